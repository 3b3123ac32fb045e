"""`code-python-v0`: procedurally generated Python function-writing tasks, graded in a sandbox."""
