"""Every sentence the offline engine says, per language (English and Korean).

Kept in one small table so that another language, or a move to Django's i18n, touches one file.
No sentence here may contain a figure of its own: the figures come from the calculation, the
person's message or the tax table, so the grounding check can trace every one of them.
"""

from typing import Literal

Lang = Literal["en", "ko"]

STRINGS: dict[Lang, dict[str, str]] = {
    "en": {
        "read_as": "I read your yearly revenue as **{amount}**.",
        "previous": "Using your earlier revenue, **{amount}**.",
        "times": "{factor} your earlier revenue is **{amount}**.",
        "times_of": "{factor} {base} is **{amount}**.",
        "twice": "Twice",
        "half": "Half of",
        "n_times": "{n} times",
        "percent_more": "Your earlier revenue plus {percent} % is **{amount}**.",
        "percent_less": "Your earlier revenue minus {percent} % is **{amount}**.",
        "percent_more_of": "{base} plus {percent} % is **{amount}**.",
        "percent_less_of": "{base} minus {percent} % is **{amount}**.",
        "delta_more": "Your earlier revenue plus {delta} is **{amount}**.",
        "delta_less": "Your earlier revenue minus {delta} is **{amount}**.",
        "result": "On that revenue the tax is **{tax}** (an effective rate of {rate} %).",
        "breakdown": "How it adds up:",
        "line": "- {rate} % from {lower} to {upper}: {taxable} taxed, {tax}",
        "line_top": "- {rate} % above {lower}: {taxable} taxed, {tax}",
        "footer": "_This is a demonstration tax table, not real tax law._",
        "marginal": (
            "Your marginal rate is **{rate} %**: each extra euro of revenue is taxed at "
            "{rate} % until your revenue reaches {upper}."
        ),
        "marginal_top": (
            "Your marginal rate is **{rate} %**, the top rate: every extra euro of revenue is "
            "taxed at {rate} %."
        ),
        "effective": "Your effective rate is **{rate} %**: a tax of {tax} on {revenue}.",
        "bracket": (
            "The **{rate} %** bracket covers revenue from {lower} to {upper}: only the part of a "
            "revenue inside that range is taxed at {rate} %, so this bracket adds at most "
            "{max_tax} (the tax is {tax_lower} where it starts and {tax_upper} where it ends)."
        ),
        "bracket_top": (
            "The **{rate} %** bracket covers revenue above {lower}: every euro above it is "
            "taxed at {rate} % (the tax is {tax_lower} where it starts)."
        ),
        "bracket_yours": "In your calculation, {taxable} of {revenue} falls in it: {tax} of tax.",
        "bracket_not_reached": "Your revenue of {revenue} does not reach this bracket.",
        "no_such_bracket": "The table has no {rate} % bracket; its rates are {rates}.",
        "table_intro": (
            "The demonstration tax table (version {version}, in effect from {date}) taxes a "
            "yearly revenue in euros by marginal brackets:"
        ),
        "table_line": "- {rate} % from {lower} to {upper}",
        "table_line_top": "- {rate} % above {lower}",
        "table_outro": "Ask me the tax on your revenue and I will calculate it.",
        "no_previous": (
            "I have no earlier calculation in this conversation to build on. Tell me your "
            "yearly revenue in euros first, for example “What is the tax on 30k?”."
        ),
        "negative_result": (
            "That would take the revenue below zero, and revenue must be zero or more, so I "
            "did not calculate anything."
        ),
        "help": (
            "I am the **offline engine**: I answer without any AI provider, so I can do a few "
            "things, exactly:\n\n"
            "- calculate the tax on a yearly revenue in euros (“What is the tax on 30k?”, "
            "“Tax on €70,000”);\n"
            "- follow up on the last calculation (“and on 30k?”, “what if it were twice "
            "that?”, “10 % more?”, “what is my marginal rate?”, “explain the 20 % bracket”);\n"
            "- show the tax table (“what are the brackets?”).\n\n"
            "For free-form answers, set `OPENAI_API_KEY` (and optionally `OPENAI_MODEL` or "
            "`OPENAI_BASE_URL` for a local server) and restart the app. See the README."
        ),
        "ambiguous_separator": (
            "“{text}” could mean **{high}** or **{low}**, so I did not guess. Which one did you "
            "mean? Write it as {high_plain} or {low_plain}."
        ),
        "ambiguous_range": (
            "“{text}” looks like a range. The tax depends on the exact amount: which single "
            "yearly revenue should I use?"
        ),
        "ambiguous_several": (
            "I found more than one amount in your message ({amounts}). Which one is your "
            "yearly revenue?"
        ),
        "and": " and ",
        "refused_negative": (
            "I did not calculate anything: “{text}” is negative, and revenue must be zero or more."
        ),
        "refused_scientific": (
            "I did not calculate anything: “{text}” is in scientific notation. Write the amount "
            "in digits, for example 30,000 or 30k."
        ),
        "refused_non_finite": (
            "I did not calculate anything: “{text}” is not a finite amount of euros."
        ),
        "refused_too_large": (
            "I did not calculate anything: “{text}” is above the largest revenue I calculate, "
            "{max}."
        ),
        "refused_other_currency": (
            "I did not calculate anything: “{text}” is not in euros, and the tax table is in "
            "euros only. Tell me the amount in euros."
        ),
        "refused_unreadable": (
            "I could not read “{text}” as an amount, so I did not calculate anything. Write it "
            "in digits, for example 30,000 or 30k."
        ),
        "tool_error": "I could not calculate that: {error}",
    },
    "ko": {
        "read_as": "연간 수입을 **{amount}**(으)로 읽었습니다.",
        "previous": "이전 수입 **{amount}** 기준입니다.",
        "times": "이전 수입의 {factor} 금액은 **{amount}**입니다.",
        "times_of": "{base}의 {factor} 금액은 **{amount}**입니다.",
        "twice": "두 배",
        "half": "절반",
        "n_times": "{n}배",
        "percent_more": "이전 수입에서 {percent} % 늘리면 **{amount}**입니다.",
        "percent_less": "이전 수입에서 {percent} % 줄이면 **{amount}**입니다.",
        "percent_more_of": "{base}에서 {percent} % 늘리면 **{amount}**입니다.",
        "percent_less_of": "{base}에서 {percent} % 줄이면 **{amount}**입니다.",
        "delta_more": "이전 수입에 {delta}을(를) 더하면 **{amount}**입니다.",
        "delta_less": "이전 수입에서 {delta}을(를) 빼면 **{amount}**입니다.",
        "result": "이 수입에 대한 세금은 **{tax}**입니다 (실효세율 {rate} %).",
        "breakdown": "구간별 계산:",
        "line": "- {rate} % 구간 ({lower} ~ {upper}): 과세 대상 {taxable}, 세금 {tax}",
        "line_top": "- {rate} % 구간 ({lower} 초과): 과세 대상 {taxable}, 세금 {tax}",
        "footer": "_시연용 세율표이며 실제 세법이 아닙니다._",
        "marginal": (
            "한계세율은 **{rate} %**입니다: 수입이 {upper}에 이를 때까지 추가 수입에는 {rate} %가 "
            "과세됩니다."
        ),
        "marginal_top": (
            "한계세율은 최고 세율인 **{rate} %**입니다: 추가 수입 전부에 {rate} %가 과세됩니다."
        ),
        "effective": "실효세율은 **{rate} %**입니다: {revenue}에 대한 세금 {tax}.",
        "bracket": (
            "**{rate} %** 구간은 {lower}부터 {upper}까지의 수입에 적용됩니다: 수입 중 이 범위에 "
            "속하는 부분만 {rate} %로 과세되므로, 이 구간의 세금은 최대 {max_tax}입니다 "
            "(구간 시작에서 누적 세금 {tax_lower}, 끝에서 {tax_upper})."
        ),
        "bracket_top": (
            "**{rate} %** 구간은 {lower}를 넘는 수입에 적용됩니다: 그 초과분 전부가 {rate} %로 "
            "과세됩니다 (구간 시작에서 누적 세금 {tax_lower})."
        ),
        "bracket_yours": (
            "이번 계산에서는 {revenue} 중 {taxable}이(가) 이 구간에 속해 세금은 {tax}입니다."
        ),
        "bracket_not_reached": "{revenue}의 수입은 이 구간에 이르지 않습니다.",
        "no_such_bracket": "세율표에 {rate} % 구간은 없습니다. 세율은 {rates}입니다.",
        "table_intro": (
            "시연용 세율표(버전 {version}, {date}부터 적용)는 유로로 된 연간 수입에 누진 구간별로 "
            "과세합니다:"
        ),
        "table_line": "- {rate} %: {lower} ~ {upper}",
        "table_line_top": "- {rate} %: {lower} 초과",
        "table_outro": "수입을 알려 주시면 세금을 계산해 드립니다.",
        "no_previous": (
            "이 대화에는 이어서 계산할 이전 계산이 없습니다. 먼저 연간 수입을 유로로 알려 "
            "주세요. 예: “3만 유로의 세금은 얼마인가요?”"
        ),
        "negative_result": (
            "그렇게 하면 수입이 0보다 작아집니다. 수입은 0 이상이어야 하므로 계산하지 않았습니다."
        ),
        "help": (
            "저는 **오프라인 엔진**입니다. AI 제공자 없이 답하므로 다음만 할 수 있습니다:\n\n"
            "- 유로로 된 연간 수입의 세금 계산 (“3만 유로의 세금은?”, “€70,000 세금”);\n"
            "- 직전 계산에 이어서 묻기 (“3만 유로는요?”, “두 배라면?”, “10% 더 벌면?”, "
            "“한계세율은?”, “20% 구간 설명”);\n"
            "- 세율표 보기 (“세율 구간 알려줘”).\n\n"
            "자유로운 답변을 원하시면 `OPENAI_API_KEY`를 설정하고 앱을 다시 시작하세요. "
            "README를 참고하세요."
        ),
        "ambiguous_separator": (
            "“{text}”은(는) **{high}**일 수도 **{low}**일 수도 있어 추측하지 않았습니다. 어느 "
            "쪽인가요? {high_plain} 또는 {low_plain}처럼 적어 주세요."
        ),
        "ambiguous_range": (
            "“{text}”은(는) 범위로 보입니다. 세금은 정확한 금액에 따라 달라지니, 어느 한 "
            "금액으로 계산할까요?"
        ),
        "ambiguous_several": (
            "메시지에서 금액을 여러 개 찾았습니다 ({amounts}). 어느 것이 연간 수입인가요?"
        ),
        "and": ", ",
        "refused_negative": (
            "계산하지 않았습니다: “{text}”은(는) 음수입니다. 수입은 0 이상이어야 합니다."
        ),
        "refused_scientific": (
            "계산하지 않았습니다: “{text}”은(는) 지수 표기입니다. 3만 유로나 30,000처럼 "
            "숫자로 적어 주세요."
        ),
        "refused_non_finite": "계산하지 않았습니다: “{text}”은(는) 유한한 금액이 아닙니다.",
        "refused_too_large": (
            "계산하지 않았습니다: “{text}”은(는) 계산할 수 있는 최대 수입 {max}보다 큽니다."
        ),
        "refused_other_currency": (
            "계산하지 않았습니다: “{text}”은(는) 유로가 아닙니다. 세율표는 유로 기준이니 "
            "유로 금액으로 알려 주세요."
        ),
        "refused_unreadable": (
            "“{text}”을(를) 금액으로 읽을 수 없어 계산하지 않았습니다. 3만 유로나 30,000처럼 "
            "숫자로 적어 주세요."
        ),
        "tool_error": "계산할 수 없었습니다: {error}",
    },
}


def say(lang: Lang, key: str, **values: object) -> str:
    return STRINGS[lang][key].format(**values)
