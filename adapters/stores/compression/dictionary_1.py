"""The first preset dictionary of event states (stored schema: never change it; a new
dictionary gets a new number, see `adapters.stores.compression`).

One state of each event type, as the ledger wrote them ingesting a synthetic Fuyang 2021 county
(`benefitpool generate --households 1000`, seed 0), the most frequent types last (nearest to
the data, where deflate finds matches most cheaply). Its SHA-256 is pinned by a test.
"""

SAMPLES = (
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.796347+00:00'
    '"},"originator_topic":"adapters.application.ingest_run:IngestRun","digest":"584c'
    'a544fde688d29f1236efeb24b62f941aa90f80763ba3ddb5fc836c5b48c8","name":"county.jso'
    'nl"}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:46.455335+00:00'
    '"},"person":"341221199709054149","reason":"duplicate_enrollment","at":{"_type_":'
    '"datetime_iso","_data_":"2020-11-01T17:00:00+08:00"}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:46.262492+00:00'
    '"},"person":"341221199709054149","reason":"employee_insured","at":{"_type_":"dat'
    'etime_iso","_data_":"2020-10-29T10:47:00+08:00"}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:49.210786+00:00'
    '"},"claim_id":"fuyang-2021-0-C00000451","reason":"clinic billing error","at":{"_'
    'type_":"datetime_iso","_data_":"2021-01-14T17:15:00+08:00"},"amount":{"_type_":"'
    'money","_data_":4629}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.742601+00:00'
    '"},"year":2021,"at":{"_type_":"datetime_iso","_data_":"2020-09-06T11:27:00+08:00'
    '"}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.759359+00:00'
    '"},"year":2021,"identity":"filed_poor","at":{"_type_":"datetime_iso","_data_":"2'
    '020-09-17T10:08:00+08:00"},"standard":{"_type_":"money","_data_":28000},"subsidy'
    '":{"_type_":"money","_data_":14000},"subsidy_basis":"filed_poor","due":{"_type_"'
    ':"money","_data_":14000},"paid":{"_type_":"money","_data_":28000},"refunded":{"_'
    'type_":"money","_data_":0},"coverage_facts":{"_type_":"coverage_facts","_data_":'
    '{"category":"general","birth_date":"2017-04-29","identity":"filed_poor","prior_i'
    'nsured":false,"broken_years":0,"back_paid_years":0}},"credit":{"_type_":"money",'
    '"_data_":14000},"covered_from":null,"policy_id":"fuyang-2021","policy_version":"'
    '1","explanation":"individual standard 280.00; filed_poor: 50% of the standard = '
    '140.00; due 140.00 (fuyang-2021@1)","policy_hash":"903d8e32d3754835a64d226a80e82'
    'f95902056b2398cfcc707da3e721fdba599","fiscal":{"_type_":"money","_data_":55000},'
    '"class_version":3}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.766038+00:00'
    '"},"year":2021,"reason":"subsidy_eligibility","amount":{"_type_":"money","_data_'
    '":14000},"channel":"bank_counter","at":{"_type_":"datetime_iso","_data_":"2020-0'
    '9-19T16:00:00+08:00"},"paid":{"_type_":"money","_data_":28000},"refunded_before"'
    ':{"_type_":"money","_data_":0},"due":{"_type_":"money","_data_":14000},"subsidy_'
    'granted_on":{"_type_":"date","_data_":"2020-09-17"},"requested":null,"terminated'
    '":false,"refunded_total":{"_type_":"money","_data_":14000},"credit":{"_type_":"m'
    'oney","_data_":0},"policy_id":"fuyang-2021","policy_version":"1","explanation":"'
    'subsidy_eligibility: credit refundable 140.00; refunded 140.00 on 2020-09-19, de'
    'adline 2020-12-31 (fuyang-2021@1)","policy_hash":"903d8e32d3754835a64d226a80e82f'
    '95902056b2398cfcc707da3e721fdba599","fiscal":{"_type_":"money","_data_":55000},"'
    'refund_ref":null,"class_version":3}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739281+00:00'
    '"},"originator_topic":"domain.aggregates:Household","head":"341225199404162179",'
    '"year":2021,"region":"341225","at":{"_type_":"datetime_iso","_data_":"2020-09-03'
    'T15:05:00+08:00"},"per_person_cap":{"_type_":"money","_data_":25000},"policy_id"'
    ':"fuyang-2021","policy_version":"1","class_version":2}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739687+00:00'
    '"},"person":"341225199404162179","covered_from":{"_type_":"date","_data_":"2021-'
    '01-01"},"covered_to":{"_type_":"date","_data_":"2021-12-31"},"at":{"_type_":"dat'
    'etime_iso","_data_":"2020-09-03T15:07:00+08:00"}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739281+00:00'
    '"},"person":"341225199404162179","region":"341225","at":{"_type_":"datetime_iso"'
    ',"_data_":"2020-09-03T15:05:00+08:00"}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739281+00:00'
    '"},"year":2021,"region":"341225","household_head":"341225199404162179","category'
    '":"general","identity":null,"at":{"_type_":"datetime_iso","_data_":"2020-09-03T1'
    '5:05:00+08:00"},"birth_date":{"_type_":"date","_data_":"1994-04-16"},"prior_insu'
    'red":false,"broken_years":0,"back_paid_years":0,"policy_id":"fuyang-2021","polic'
    'y_version":"1","standard":{"_type_":"money","_data_":28000},"subsidy":{"_type_":'
    '"money","_data_":0},"subsidy_basis":null,"due":{"_type_":"money","_data_":28000}'
    ',"covered_from":null,"explanation":"individual standard 280.00; no subsidy; due '
    '280.00 (fuyang-2021@1)","policy_hash":"903d8e32d3754835a64d226a80e82f95902056b23'
    '98cfcc707da3e721fdba599","fiscal":{"_type_":"money","_data_":55000},"class_versi'
    'on":3}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739687+00:00'
    '"},"originator_topic":"domain.aggregates:PaymentRef","payment_ref":"fuyang-2021-'
    '0-P00002185","person":"341225199404162179","year":2021}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.739687+00:00'
    '"},"year":2021,"amount":{"_type_":"money","_data_":28000},"channel":"tax_online"'
    ',"payment_ref":"fuyang-2021-0-P00002185","payer":"341225199404162179","payer_rel'
    'ation":"self","at":{"_type_":"datetime_iso","_data_":"2020-09-03T15:07:00+08:00"'
    '},"accepted_in":"centralized","due":{"_type_":"money","_data_":28000},"refunded"'
    ':{"_type_":"money","_data_":0},"coverage_facts":{"_type_":"coverage_facts","_dat'
    'a_":{"category":"general","birth_date":"1994-04-16","identity":null,"prior_insur'
    'ed":false,"broken_years":0,"back_paid_years":0}},"paid_total":{"_type_":"money",'
    '"_data_":28000},"credit":{"_type_":"money","_data_":0},"covered_from":{"_type_":'
    '"date","_data_":"2021-01-01"},"policy_id":"fuyang-2021","policy_version":"1","ex'
    'planation":"received 2020-09-03 in the centralized window 2020-09-01..2020-12-31'
    '; settled 2020-09-03 in the centralized window: covered from 2021-01-01 (fuyang-'
    '2021@1)","policy_hash":"903d8e32d3754835a64d226a80e82f95902056b2398cfcc707da3e72'
    '1fdba599","fiscal":{"_type_":"money","_data_":55000},"class_version":3}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:45.738913+00:00'
    '"},"originator_topic":"domain.aggregates:Person","person_key":"34122519940416217'
    '9","number":"341225199404162179","standard_id":true,"name":"魏洋明","region":"34122'
    '5","birth_date":{"_type_":"date","_data_":"1994-04-16"},"sex":"male","residence_'
    'permit":false,"at":{"_type_":"datetime_iso","_data_":"2020-09-03T14:57:00+08:00"'
    '}}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:49.144831+00:00'
    '"},"originator_topic":"domain.aggregates:ClaimRef","claim_id":"fuyang-2021-0-C00'
    '003209","household":{"_type_":"uuid_hex","_data_":"76b6586c67d25705b654d9fe2a11e'
    '299"},"person":"34122120170220604X"}',
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:49.144831+00:00'
    '"},"claim_id":"fuyang-2021-0-C00003209","person":"34122120170220604X","visit_dat'
    'e":{"_type_":"date","_data_":"2021-01-01"},"facility_level":0,"facility_region":'
    '"341221","expense":{"_type_":"money","_data_":2484},"cause":"ordinary","at":{"_t'
    'ype_":"datetime_iso","_data_":"2021-01-01T08:50:00+08:00"},"pooling":"household"'
    ',"eligible_expense":{"_type_":"money","_data_":2484},"reimbursable":{"_type_":"m'
    'oney","_data_":1366},"reimbursed":{"_type_":"money","_data_":1366},"pool_cap":{"'
    '_type_":"money","_data_":50000},"pool_used_before":{"_type_":"money","_data_":0}'
    ',"pool_remaining_after":{"_type_":"money","_data_":48634},"policy_id":"fuyang-20'
    '21","policy_version":"1","explanation":"0.55 x 24.84 = 13.66; household pool 500'
    '.00, used 0.00, left 500.00: reimbursed 13.66 (fuyang-2021@1)","policy_hash":"90'
    '3d8e32d3754835a64d226a80e82f95902056b2398cfcc707da3e721fdba599","class_version":'
    '2}',
)

DICTIONARY = "".join(SAMPLES).encode("utf-8")
