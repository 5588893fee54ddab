-- Our share of the search terms we appear in, per marketplace and Brand Analytics week: the top
-- clicked ASINs' click and conversion shares split into ours and competitors', and who the
-- competitors are (search_terms_weekly), for the weeks the period touches.
SELECT
  marketplace_id,
  date AS week_start,
  department_name,
  search_term,
  search_frequency_rank,
  our_click_share,
  competitor_click_share,
  our_conversion_share,
  competitor_conversion_share,
  our_share_of_top_clicks,
  our_share_of_top_conversions,
  our_best_click_share_rank,
  our_asins,
  competitor_asins
FROM aggregated.search_terms_weekly
WHERE date BETWEEN DATE_ADD('day', -6, :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
  AND our_clicked_asins > 0
ORDER BY marketplace_id, week_start, search_frequency_rank, search_term
