"""The work's way in and out: the workspace source copied into a bottle, its
ignore rules, the harvest back into the user's repository, and the saved
session folders."""
