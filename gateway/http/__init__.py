"""The HTTP edge: aiohttp app, request handlers, error mapping. Status codes live only here."""
