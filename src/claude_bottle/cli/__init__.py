"""The command line: parsing and the one top-level error handler (main), options
shared by commands, the launch as a person sees it, completion, and one module
per command under commands/."""
