"""A session: the preflight, the composition root that enters the bottle's
resources together and tears them down on every path, signals and concurrency,
and the doctor's self-test."""
