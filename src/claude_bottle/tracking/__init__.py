"""What claude-bottle made, tracked so that it outlives the command that made it:
the labels every engine object carries, who owns a session, and finding and
removing objects by label (cleanup, stop, ps and the watchdog). Engine-neutral:
it speaks to the engine only through the seam (engine.api)."""
