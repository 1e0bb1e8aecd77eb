"""Around the migrations: waiting for the server or for the migrations, creating and
dropping the database. Builds on the engine (what is pending) and the database layer."""
