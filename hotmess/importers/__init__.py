"""Other harnesses' runs written as hotmess run directories, so `score`, `report`,
`compare` and `export` read them unchanged: Inspect eval logs and Harbor job directories.
"""

from hotmess.importers.episodes import ImportResult
from hotmess.importers.harbor_jobs import HarborImport, import_harbor
from hotmess.importers.inspect_logs import InspectImport, import_inspect

__all__ = ["HarborImport", "ImportResult", "InspectImport", "import_harbor", "import_inspect"]
