-- Reserved: version 4 belongs to a change developed at the same time as
-- 0005. This placeholder keeps the versions gapless on its own and is
-- replaced by that change's 0004 when both are merged, before any release.
SELECT 1;
