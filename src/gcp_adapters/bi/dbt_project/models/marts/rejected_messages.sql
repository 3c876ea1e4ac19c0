-- The landed messages no mart could use, with why (see stg_rejected_messages).

select * from {{ ref('stg_rejected_messages') }}
