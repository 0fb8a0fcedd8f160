"""HTTP API: the app factory, dependencies, schemas, one router per resource."""
