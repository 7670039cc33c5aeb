"""The MCP relay: `hyperion-host serve`."""
