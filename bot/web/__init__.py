"""The web portal: an entry point like the CLI (the app factory is bot.web.app.create_app)."""
