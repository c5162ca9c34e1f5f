"""The manifest: its model, parsing and schema, where it is found, the built-in
default, host patterns' users, skills, the parts of ~/.claude it asks for, the
host files it reads, and trust. Pure: reads files, runs nothing."""
