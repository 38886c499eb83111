"""The command line: thin commands that parse, call the Workspace, and render."""
