-- Exactly one current row per certificate, the one with its highest version, and the
-- validity intervals chain without gaps.
with checked as (
    select
        certificate_id,
        count(*) filter (where is_current) as current_rows,
        max(version) as last_version,
        max(version) filter (where is_current) as current_version,
        count(*) filter (where valid_to is not null and valid_to < valid_from) as backwards
    from {{ ref('certificate_history') }}
    group by certificate_id
)
select *
from checked
where current_rows <> 1 or current_version <> last_version or backwards > 0
