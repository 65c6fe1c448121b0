"""C++/OpenMP simulator target (to be built: see the project's issues)."""
