"""Model registry, dynamic batching and ONNX Runtime sessions. No aiohttp, no redis."""
