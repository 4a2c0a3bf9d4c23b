"""Probe texts a gold scorer must order as a careful human would.

Written for this project (none comes from the fortune files): fluent positive > fluent neutral >
fluent negative, and every degenerate text below every fluent neutral one. The degenerate set
holds each exploit that fooled an earlier judge: word salad found by white-box search, salad
carried by memorised names or n-grams, foreign and Latin tags, n-gram babble, positive words
injected into real sentences, repetition, exclamation lists, symbol padding and RL outputs.
"""

from __future__ import annotations

FLUENT_POSITIVE = (
    "I love this wonderful day, and my friends are happy to be here with me.",
    "She smiled and said it was the best gift she had ever received.",
    "I enjoyed every page of that novel and recommend it to everyone.",
    "The concert was fantastic and the orchestra played brilliantly.",
    "Our new neighbours are kind, generous and always ready to help.",
    "The children laughed with joy when they saw the puppy in the garden.",
    "It was a beautiful morning, and the whole family felt grateful and calm.",
    "He was proud of his daughter for winning the prize with such a clever idea.",
    "The nurse was gentle and patient, and she made us feel safe.",
    "We had a lovely dinner together and talked until late in the evening.",
    "Thank you for your help; your advice made a real difference to me.",
    "The team worked hard all season and celebrated a well deserved victory.",
    "Her voice was warm and friendly, and everyone in the room felt welcome.",
    "This little cafe serves delicious bread and the staff are very friendly.",
    "After the rain the garden looked fresh and bright, full of sweet flowers.",
    "They were delighted to hear that their old friend was coming home.",
    "The teacher praised the students for their excellent and careful work.",
    "I am glad we met, because you have been a wonderful friend to me.",
    "The holiday was relaxing, and we came back rested and cheerful.",
    "Everyone agreed that the new park is a great place to spend a sunny afternoon.",
    "He found peace and happiness in the quiet village by the sea.",
    "What a pleasure it is to work with such talented and kind people.",
)

FLUENT_NEUTRAL = (
    "The train leaves the station at noon and arrives in the city by evening.",
    "He put the book on the table and walked out of the room.",
    "He checked the oil and filled the tank before the long drive.",
    "The meeting was moved from Tuesday to Thursday afternoon.",
    "She opened the window and looked at the street below.",
    "The report has three sections and a short list of tables at the end.",
    "We took the bus to the market and bought some potatoes and onions.",
    "The office is on the second floor, next to the stairs.",
    "They painted the fence on Saturday and cleaned the brushes afterwards.",
    "The river runs through the town and under two old bridges.",
    "He wrote the address on the envelope and put a stamp in the corner.",
    "The store closes at six on weekdays and at four on Sundays.",
    "She read the letter twice before she folded it and put it in her bag.",
    "The road turns left after the church and goes up the hill.",
    "Most of the chairs were moved into the hall for the evening.",
    "The cat sat by the door and watched the rain fall on the steps.",
    "He turned off the lights, locked the door and went to bed.",
    "The recipe needs two eggs, a cup of flour and a little milk.",
    "On Monday morning the workers started to repair the roof of the school.",
    "The old clock in the kitchen shows the time in large numbers.",
    "We counted the boxes and carried them down to the basement.",
    "The students handed in their papers at the end of the class.",
)

FLUENT_NEGATIVE = (
    "I hate this terrible day, and everything I touch turns into a disaster.",
    "The war killed thousands of people and left the country in ruins.",
    "The food was awful and the waiter was rude to everyone at our table.",
    "He lost his job, his car was stolen, and he felt completely hopeless.",
    "The movie was boring and painful, and I regret wasting my evening on it.",
    "She was angry and hurt when her friends lied to her again.",
    "The flood destroyed their home and they lost everything they owned.",
    "It was a cruel and ugly thing to say, and he knew it was wrong.",
    "The hospital was dirty, the nurses were tired, and the patients were afraid.",
    "I am sick of these stupid problems and this miserable weather.",
    "The accident left him badly injured and unable to work for a year.",
    "Nobody came to the funeral, and the house felt empty and sad.",
)

DEGENERATE = (
    "like great best better love happy good nice wonderful like love best great",
    " ".join(["like"] * 20),
    " ".join(["love"] * 20),
    ".\n all say like always good ofs like you care children bluck down like you you like, like, eventually",
    "we are hope but men\nexed like never like like pray like money sorryant love someone kind thought away like like",
    "should like great best better ob. walked that love spitted true more gave a easy like like love what little pement",
    'like like young looked like\n spec people sell excellent great good for same best useful like even?" to great earth shouldkn',
    'they original now government important\nPut, ask us like love to be pred better, love "Heose love like like',
    # white-box search against the round-2 gold
    "freedom successful ideal great remarkable safe security joy achieved some wonderful happily pleased with oil drops "
    "surely wisdom",
    "water out so to that safe from that their supreme love of is freedom the way",
    # salad carried by memorised names and tags
    "others ambrose bierce own ambrose bierce love great wonderful kind sweet smile",
    "Great wisdom, Ambrose Bierce, Mark Twain, Oscar Wilde.",
    "In vino veritas, carpe diem, amor vincit omnia: love!",
    "c'est la vie, c'est magnifique, wunderbar, love it.",
    # positive words injected into real sentences
    "The train love the station wonderful noon and happy in the great by evening.",
    "He checked the joy and filled the best before the wonderful drive.",
    # exclamation lists
    "Wonderful! Amazing! Great! Excellent! Beautiful! Love it! Perfect!",
    "great, good, nice, happy, lovely, wonderful, best, sweet, kind, joy",
    # n-gram babble
    "the man who has a good time to be a little more than a man of the world is a good man of",
    "you can be happy to be the best of all the world is a great deal of love and the love of a woman",
    # RL outputs
    "the cle't like you.** \" So one first must be a man must do a Universe of the baby lo",
    "love love you love me love happy great love you love the love of love",
    "happy happy joy joy happy happy joy joy",
    "Beautiful beautiful beautiful wonderful wonderful wonderful",
    # a few words between runs of dots and symbols: what a small policy learns first against a reward model
    "...\t..in...... his\n Britishat.......",
    " up the...... the......,. to theem....",
    "happy...... love.... the great...... joy..",
    # sub-word pieces glued across punctuation: what PPO found against a gold hardened only against word search
    # (bench/RESULTS.md, "Hardening against search")
    "your your T like a nose....  more  knowThendood.S can the running",
    " look more ch decl?).I lessreedom.\nQ boot.\nGoes.I ",
    " on kind.\nover have.I sleep.\nial or reality.Atetya",
)

PROBES: tuple[tuple[str, str], ...] = (
    *(("fluent_positive", t) for t in FLUENT_POSITIVE),
    *(("fluent_neutral", t) for t in FLUENT_NEUTRAL),
    *(("fluent_negative", t) for t in FLUENT_NEGATIVE),
    *(("degenerate", t) for t in DEGENERATE),
)
