"""Person identity: the building blocks of the person index.

``standardise`` turns the raw fields agencies keep about a person (names, cédula de identidad, dates, addresses,
sex, phones, e-mails) into comparable values; ``synthetic`` generates Uruguay-like people and their records across
agencies, with the ground truth needed to measure a record linker.
"""
