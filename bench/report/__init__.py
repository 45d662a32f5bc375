"""The static HTML report (`bench report`) and the BD tables it shares with `bench bdrate`.

Modules: bd_tables (BD-rate/BD-metric tables and their md/csv/latex renderings),
gallery (reconstruction crops at comparable bpp), metadata (what produced the numbers),
builder (assembles index.html from templates/report.html.j2)."""
