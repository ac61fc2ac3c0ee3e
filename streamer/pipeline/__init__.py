"""poll -> process -> write: processor, batcher, writer, routing, layout, dedupe."""
