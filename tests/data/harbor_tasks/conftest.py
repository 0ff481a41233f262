# The task folders' own tests run inside their containers, never under hotmess's pytest.
collect_ignore_glob = ["*/tests/*", "*/solution/*", "*/environment/*"]
