"""Credits without consideration of their own: grants, classified by kind (docs/grants.md).

A grant is credits a customer did not pay for as such: a contract's ``grants:`` entry,
a purchases row with amount 0 and a ``kind``, a pack's ``bonus`` or ``material_right``.
Each becomes a lot (``rules.lots.Lot``, ``kind``) drawn like any other, in draw
priority order; its kind decides what using it does to revenue:

* ``concession`` (a price concession or goodwill to a customer, ASC 606-10-32-25..27:
  consideration payable to a customer reduces the transaction price, recognized when
  the related revenue is): the lot has no consideration; the value of the credits used,
  at the contract's rates, is booked as revenue (``Income:Revenue:Usage`` / ``:Actions``,
  split by model like any usage) against its own contra line
  (``Income:Revenue:Concessions``), both on the lot: net zero. The free credits replace
  usage that would otherwise have been billed (arrears) or drawn from paid lots
  (prepaid): nothing is drawn from a paid lot, nothing is billed, and the gross and the
  concession both show.
* ``promotional`` (marketing, to a prospect or a customer): no revenue and no contra
  revenue; the lot has no consideration. The cost of the usage it covers is still
  costed by ``rules.cogs`` (the provider's bill still ties); its share is moved from
  ``Expenses:COGS:Inference:<P>`` to ``Expenses:Marketing:Promotional-Credits``
  (``promotional_costs``), so the expense is the cost, counted once.
* ``bundled`` (credits that come with a paid purchase: a pack's ``bonus``, or a grant
  ``with`` a payment, ASC 606-10-32-28..41): the purchase's consideration is allocated
  between the paid and the bundled credits by relative standalone selling price
  (``allocate_purchase``; SSP per credit from the pack or grant; credits without an SSP
  of their own share the paid credits'); each lot is then recognized at its allocated
  rate, with remote or proportional breakage as its pack says.
* ``material_right`` (an option to buy a pack later at a discount, ASC 606-10-55-41..45):
  part of the purchase price is allocated to the option at relative SSP (the credits'
  SSP x credits against the option's SSP) and held in a lot with no credits; exercising
  it (buying the option's pack before it lapses) moves that consideration into the new
  lot, recognized as its credits are used (55-45); a lapse (its expiry) recognizes it
  as breakage on that date.

A void (``void:`` or ``voids:``) makes the void date the grant's expiry: what remains
expires then, with remote breakage of the consideration left for a bundled lot and
nothing for free credits.

    paid 4,500.00 for 500,000 credits, bonus 50,000 credits, SSP 0.009 each:
    allocate_purchase(4500.00, {"paid": 4500, "bonus": 450})
        -> paid 4,090.91 (500,000 credits), bonus 409.09 (50,000 credits)
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from .allocation import allocate

# What a kind does, for messages and metadata.
KIND_RULE = {
    "concession": "no revenue: the value used is revenue against Income:Revenue:Concessions "
                  "(ASC 606-10-32-25..27)",
    "promotional": "no revenue: the cost of the usage is a marketing expense",
    "bundled": "the purchase's consideration allocated by relative SSP (ASC "
               "606-10-32-28..41)",
    "material_right": "an option allocated consideration at relative SSP (ASC "
                      "606-10-55-41..45)",
}


def allocate_purchase(amount: Decimal, weights: list[tuple[str, Fraction]]
                      ) -> dict[str, Decimal]:
    """``amount`` over the named parts in proportion to their standalone selling prices,
    in the order given, rounded half up cumulatively (the first part is the paid lot):
    the shares add up to ``amount`` exactly. A part whose share rounds to nothing gets
    0.00."""
    keyed = {f"{i:06d}": Fraction(w) for i, (_, w) in enumerate(weights)}
    shares = dict(allocate(amount, keyed))
    return {name: shares.get(f"{i:06d}", Decimal("0.00"))
            for i, (name, _) in enumerate(weights)}
