"""The plan: one immutable LaunchPlan from a manifest, the options and the
environment (names, subnets, sign-in), and its rendering. Pure."""
