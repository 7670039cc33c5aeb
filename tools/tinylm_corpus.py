"""The `tinylm` corpus: short stories generated from a small grammar (deterministic; no outside text).

Every sentence comes from the templates and word lists below, so the corpus carries this repository's licence.
A story follows one child, an animal and a place through a few events and ends with a feeling, which gives a
byte-level model structure to learn at every scale: spelling, agreement (he/she, a/an), names that recur in a
story and a plot order.

    .venv/bin/python tools/tinylm_corpus.py --bytes 20000 --seed 1     # print a sample"""

import argparse
import random

GIRLS = ["Lily", "Mia", "Anna", "Sara", "Emma", "Nora", "Ella", "Ruby", "Zoe", "Lucy", "Ivy", "Maya", "Rosa", "Tess"]
BOYS = ["Tom", "Ben", "Max", "Leo", "Sam", "Jack", "Finn", "Omar", "Theo", "Eli", "Noah", "Owen", "Luca", "Hugo"]
ANIMALS = ["cat", "dog", "bird", "fox", "owl", "frog", "duck", "rabbit", "bear", "mouse", "horse", "turtle", "goat",
           "lamb", "puppy", "kitten", "elephant", "otter"]
PLACES = ["park", "forest", "garden", "beach", "farm", "river", "hill", "lake", "market", "school", "library",
          "meadow", "village", "harbor", "orchard", "zoo"]
THINGS = ["ball", "kite", "box", "hat", "book", "apple", "shell", "stone", "flower", "boat", "drum", "key", "map",
          "lamp", "cake", "umbrella", "egg", "orange", "feather", "ring"]
ADJS = ["big", "small", "red", "blue", "green", "old", "new", "shiny", "soft", "tiny", "happy", "quiet", "funny",
        "yellow", "brave", "sleepy", "little", "golden", "orange", "empty"]
FEELINGS = ["happy", "proud", "tired", "glad", "calm", "excited", "thankful", "sleepy", "surprised", "safe"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "bright", "cloudy", "snowy"]
TIMES = ["morning", "afternoon", "evening", "night"]
FAMILY = ["mom", "dad", "sister", "brother", "grandma", "grandpa", "friend", "teacher"]
VERBS = [("played", "with"), ("looked", "at"), ("talked", "to"), ("laughed", "with"), ("waited", "for"),
         ("walked", "with"), ("sang", "to"), ("danced", "with")]
FINDS = ["found", "saw", "lost", "wanted", "made", "painted", "shared", "carried", "fixed", "hid"]
MOVES = ["ran", "walked", "jumped", "hopped", "climbed", "swam", "raced", "skipped"]
SOUNDS = {"cat": "meow", "dog": "woof", "bird": "tweet", "owl": "hoo", "frog": "ribbit", "duck": "quack",
          "mouse": "squeak", "horse": "neigh", "goat": "baa", "lamb": "baa", "puppy": "yip", "kitten": "mew",
          "bear": "grr", "fox": "yip", "rabbit": "sniff", "turtle": "hmm", "elephant": "toot", "otter": "squeak"}
COUNT = ["two", "three", "four", "five", "six", "seven"]


def a(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def plural(word):
    return word + ("es" if word.endswith(("x", "s", "sh", "ch")) else "s")


def story(r):
    hero = r.choice(GIRLS + BOYS)
    he, his = ("she", "her") if hero in GIRLS else ("he", "his")
    pal = r.choice(ANIMALS)
    place = r.choice(PLACES)
    thing = r.choice(THINGS)
    adj = r.choice(ADJS)
    kin = r.choice(FAMILY)
    first = [
        "Once upon a time, there was %s named %s." % (a("child"), hero),
        "%s was %s child who lived near the %s." % (hero, a(r.choice(["kind", "happy", "curious", "little",
                                                                   "brave", "clever"])), place),
        "It was %s %s, and %s wanted to go to the %s." % (a(r.choice(WEATHER)), r.choice(TIMES), hero, place),
        "One day, %s went to the %s with %s %s." % (hero, place, his, kin),
    ]
    middle = [
        "%s had %s %s." % (hero, a(adj), pal),
        "At the %s, %s %s %s %s." % (place, hero, r.choice(FINDS), a(adj), thing),
        "The %s said, \"%s, %s!\"" % (pal, SOUNDS[pal].capitalize(), SOUNDS[pal]),
        "%s %s to the %s and %s the %s." % (hero, r.choice(MOVES), r.choice(PLACES), r.choice(FINDS), thing),
        "%s %s %s the %s all %s." % (hero, *r.choice(VERBS), pal, r.choice(TIMES)),
        "%s counted %s %s by the %s." % (hero, r.choice(COUNT), plural(r.choice(ANIMALS + THINGS)), place),
        "\"Look at the %s %s!\" said %s." % (adj, thing, hero),
        "%s %s asked, \"Where is the %s?\"" % (his.capitalize(), kin, thing),
        "The %s was %s, so %s gave it to the %s." % (thing, r.choice(ADJS), he, pal),
        "%s and the %s %s home together." % (hero, pal, r.choice(MOVES)),
    ]
    last = [
        "In the end, %s was very %s." % (hero, r.choice(FEELINGS)),
        "That %s, %s felt %s and went to sleep." % (r.choice(TIMES), hero, r.choice(FEELINGS)),
        "%s smiled and said, \"This was the best day ever!\"" % hero,
        "The %s and %s were friends forever." % (pal, hero),
    ]
    body = r.sample(middle, r.randint(3, 5))
    return " ".join([r.choice(first)] + body + [r.choice(last)])


def corpus(n_bytes, seed):
    """About n_bytes of stories, one per line, from a seeded generator."""
    r = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        s = story(r)
        out.append(s)
        size += len(s) + 1
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(corpus(args.bytes, args.seed), end="")
