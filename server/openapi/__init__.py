"""The OpenAPI 3.1 description of the REST API, served at ``/api/v1/openapi.json``."""
