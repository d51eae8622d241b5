#!/bin/bash
# Usage and quotas with berthd's metadata in PostgreSQL (slow tier): usage.sh and
# quota.sh of the default tier again, through engine-pg.sh, on fresh databases of
# the run's shared server (the triggers that keep the figures are the engine's own).
exec env BERTH_ENGINE_PG_SCRIPTS="usage quota" bash "$(dirname "$0")/engine-pg.sh" "$@"
