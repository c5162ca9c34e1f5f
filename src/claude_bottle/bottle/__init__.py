"""The bottle's resources, each a context manager: the network and its port
guard, the stage folder, the egress sidecar, the agent container and its home
(ssh included), the images, the keeper of the work and the watchdog reaper."""
