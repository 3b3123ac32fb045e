"""The forum site of `web-forum-v0`: boards, threads, replies, roles, moderation, settings, admin panel."""
