#!/bin/bash
# fsck, backup and restore, and read-only mode with berthd's metadata in PostgreSQL
# (slow tier): the scripts of the default tier again, through engine-pg.sh, on fresh
# databases of the run's shared server (backup.sh then restores with pg_restore into
# a second, empty database).
exec env BERTH_ENGINE_PG_SCRIPTS="fsck backup read-only" bash "$(dirname "$0")/engine-pg.sh" "$@"
