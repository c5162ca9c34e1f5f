"""The engine: the one seam to the container engine (api.py, the protocol every
engine implements), the engines behind it, and the one function that picks one
(select.py). What claude-bottle made is tracked apart, in `tracking`. Imports
only the base."""
