"""The MCP relay, `hyperion-host serve`: config, auth (keys, roles, rate limits, audit), models (host runtime),
boards (a pool of serial boards), tools (the MCP tools), bridge (boards that call the relay), monitoring, and
server (the Streamable HTTP and stdio app). May import: errors, files, paths, model, device, ship."""
