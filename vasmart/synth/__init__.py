"""Synthetic source systems: BOSS, BASS, VGOP, DM, CRM and mediation deliveries, spec-exact, with ground truth.

The latent model
----------------
Every subscriber is drawn once with hidden traits, and everything the source systems deliver about them
is derived from those traits plus chance:

- **age, gender, prefecture, income** — income and age pick the brand (全球通 GOTONE for older, richer
  users; 动感地带 MZONE for the young; 神州行 EASYOWN otherwise), the plan on the brand's ladder and the
  handset tier (basic, mid, smartphone), hence its TAC and capabilities (MMS, WAP, maximum RAT).
- **information appetite** — how much VAS a user orders and uses (on-demand requests, subscriptions).
- **price sensitivity** — how fast they cancel, including 72-hour quick cancellations (and re-orders).
- **category preferences** — a Dirichlet vector over the eight content categories (NEWS, SPORTS,
  FINANCE, ENTERTAINMENT, MUSIC, GAMES, LIFE, EDUCATION), shaped by age (and sports by gender), that
  drifts a little every month. It drives which services are ordered, which 手机报 edition is read, and
  how a user's VAS use splits across categories (BASS_VAS_USAGE).
- **voice, SMS and data rates** — calls, messages and GPRS sessions per day; a stable contact book of
  8-56 numbers (on-net, off-net, fixed lines) gives the other parties.
- **credit risk** — a latent score, higher for re-joiners and lower income, that drives late payments,
  arrears, suspension (停机) 30-40 days into a default and cancellation (销户) for arrears 60 days later.
- **do-not-disturb**, and whether the user's network elements report a 16-digit IMEISV.

Month by month: about 1.8% new joiners (18% re-joining, riskier), voluntary churn, handset changes
(about 4% of users a month, usually to a better handset), orders and cancellations, pushed orders from a
few halls (which draw UNWANTED_ORDER complaints and silent subscribers), content deliveries whose status
depends on the handset at send time (TERMINAL for MMS to a handset without MMS; the platform then stops
some of those subscriptions), complaints with handling times, bills under the Monternet charging rule, and
numbers recycled to new users no sooner than 90 days after cancellation.

Labels are drawn from the probabilities written to truth/ (spec §6, §7): the 手机报 propensity of each
eligible user at the end of month M decides a stable order in M+1; the "bad" probability of each new
user of month J, fixed at the start of J+2, decides a default that shows as 30+ overdue days with
arrears of 1,000 fen or more in a bill of J+2..J+5; the content truth is the preference vector of M+1.

Continuing a delivery
---------------------
`vasmart generate --continue-days N` appends N daily batches to a landing area the generator wrote: it
replays the generation recorded in synth/generation.json (same seed, same draws; the replayed records of
the delivered batches are only counted against their control files) and goes on day by day from the last
batch (a "cut"; a month cut there is simulated in pieces, the later ones without new joiners). Campaign
contacts written back to the campaign database at the cut become responses drawn with their own generator
(`response.py`): a contacted user responds with the configured uplift within the campaign's response
window; HOLDOUT users behave as everyone else. Same landing area, lists and uplift: same bytes.
"""
