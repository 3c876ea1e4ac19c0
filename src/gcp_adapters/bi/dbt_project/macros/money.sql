{#- Money is exact: text (or a JSON number's text) to DECIMAL, never through DOUBLE. -#}
{% macro money(expression) -%}
    try_cast({{ expression }} as decimal(18, 4))
{%- endmacro %}

{#- An RFC 3339 instant as a UTC timestamp (every *_at column is UTC). -#}
{% macro utc(expression) -%}
    (try_cast({{ expression }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{#- Sums of money: wide enough for any number of DECIMAL(18, 4) amounts. -#}
{% macro total(expression) -%}
    cast(coalesce(sum({{ expression }}), 0) as decimal(38, 4))
{%- endmacro %}
