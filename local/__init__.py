"""Local tools that are never deployed: the development server and the provider simulator."""
