## client/: the pull module (libberth) and the `berth` CLI
