"""Web plumbing shared by the API and every server-rendered front end: the request's unit of
work, authentication, security headers and rate limits, logs and metrics, probes."""
