"""The engine: the one seam to the container engine (client), the labels every
object carries, who owns a session, tar streams, and the inventory of what
claude-bottle made, found by label. Imports only the base."""
