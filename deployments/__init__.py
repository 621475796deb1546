"""Ray Serve wiring only: thin deployment classes and the app builder. No business logic here."""
