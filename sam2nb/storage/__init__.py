"""storage: the result store (RLE masks and scores in SQLite), the session journal, folder locks."""
