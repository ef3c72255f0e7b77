"""Moving statements in and out of the LRS: `lrs export` / `GET /admin/export` (export.py,
csv_rows.py) and `lrs import` (importer.py, sources.py). See docs/import-export.md."""
