"""Web-agent environments: real local web apps (`web-shop-v0`, `web-forum-v0`) driven through BrowserGym-style
actions, in `text` mode (in-process HTTP client) or `browser` mode (Debian's Chromium via Playwright)."""
