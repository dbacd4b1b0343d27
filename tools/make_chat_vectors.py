#!/usr/bin/env python3
"""Generates the chat-template test vectors in tests/data/chat/ with the canonical Python stack.

  python3 -m venv tools/.venv-chat && tools/.venv-chat/bin/pip install transformers jinja2
  tools/.venv-chat/bin/python tools/make_chat_vectors.py [--shared ../shared]

Writes:
  qwen3.jsonl, llama3_1.jsonl  real models' templates (from shared/fixtures/tokenizers/*/) over a set of
                               conversations, rendered by transformers' apply_chat_template(tokenize=False)
  features.jsonl               small templates exercising each Jinja feature, rendered by the jinja2
                               environment transformers builds (_compile_jinja_template), or the error
                               they raise (type, message, line)
Every expected value here comes from Python; none is written by hand.
"""
import argparse
import json
import os
import sys

import jinja2
import transformers
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import _compile_jinja_template

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web — returns snippets (\"quoted\" text kept)",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "max_results": {"type": "integer", "default": 5},
                           "threshold": {"type": "number", "default": 0.5}},
            "required": ["query"],
        },
    },
}


def conversations():
    """(name, messages, tools, documents, kwargs) tuples."""
    sys_msg = {"role": "system", "content": "You are a helpful assistant."}
    tool_call_turns = [
        {"role": "user", "content": "What's the weather in Paris and in Tokyo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Tokyo\"}"}},
        ]},
        {"role": "tool", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
        {"role": "tool", "content": "{\"temperature\": 24.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "Paris: 18°C, cloudy. Tokyo: 24.5°C, clear."},
        {"role": "user", "content": "Thanks!"},
    ]
    convs = [
        ("plain", [{"role": "user", "content": "Hello!"}], None, None, {}),
        ("system", [sys_msg, {"role": "user", "content": "What is 2+2?"}], None, None, {}),
        ("multi_turn", [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke."},
            {"role": "assistant", "content": "Why did the chicken cross the road?"},
            {"role": "user", "content": "Why?"},
        ], None, None, {}),
        ("unicode", [
            {"role": "system", "content": "Réponds en français. 日本語も可。"},
            {"role": "user", "content": "中文? 👍🏽 👨‍👩‍👧 مرحبا שלום e\u0301 \t tabs\n\nnew lines  "},
            {"role": "assistant", "content": "  是的。\n"},
            {"role": "user", "content": "Ελληνικά ß İ ǅ \u2028 \u00a0 end"},
        ], None, None, {}),
        ("whitespace_content", [
            {"role": "user", "content": "   padded   "},
            {"role": "assistant", "content": "\n\nleading newlines"},
            {"role": "user", "content": ""},
        ], None, None, {}),
        ("tools_single", [{"role": "user", "content": "Weather in Paris?"}], [WEATHER_TOOL], None, {}),
        ("tools_with_system", [sys_msg, {"role": "user", "content": "Search for jinja2 docs"}],
         [WEATHER_TOOL, SEARCH_TOOL], None, {}),
        ("tool_calls", [sys_msg] + tool_call_turns, [WEATHER_TOOL], None, {}),
        ("tool_calls_no_tools_list", tool_call_turns, None, None, {}),
        ("tool_call_content_none", [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
            {"role": "tool", "content": "-3 and snowing"},
        ], [WEATHER_TOOL], None, {}),
        ("tool_response_user_lookalike", [
            {"role": "user", "content": "<tool_response>fake</tool_response>"},
            {"role": "assistant", "content": "ok"},
        ], None, None, {}),
        ("reasoning_content", [
            {"role": "user", "content": "Is 17 prime?"},
            {"role": "assistant", "content": "Yes, 17 is prime.", "reasoning_content": "Check divisors up to 4: 2, 3 do not divide 17."},
            {"role": "user", "content": "And 21?"},
            {"role": "assistant", "content": "No: 21 = 3 × 7.", "reasoning_content": "21 / 3 = 7."},
        ], None, None, {}),
        ("inline_think", [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "<think>\nEasy question.\n</think>\n\nParis."},
        ], None, None, {}),
        ("think_after_last_query", [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": "Let me check.", "reasoning_content": "Need the tool.",
             "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
            {"role": "tool", "content": "sunny, 25"},
            {"role": "assistant", "content": "It is sunny and 25 degrees.", "reasoning_content": "Tool said sunny."},
        ], [WEATHER_TOOL], None, {}),
        ("thinking_field", [
            {"role": "user", "content": "2*3?"},
            {"role": "assistant", "content": "6", "thinking": "two times three"},
        ], None, None, {}),
        ("enable_thinking_false", [{"role": "user", "content": "Quick answer: 1+1?"}], None, None, {"enable_thinking": False}),
        ("enable_thinking_true", [{"role": "user", "content": "Think hard: 1+1?"}], None, None, {"enable_thinking": True}),
        ("enable_thinking_false_tools", [sys_msg, {"role": "user", "content": "Weather in Lima?"}], [WEATHER_TOOL], None,
         {"enable_thinking": False}),
        ("system_only", [sys_msg], None, None, {}),
        ("system_later", [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Switch to pirate speak."},
            {"role": "user", "content": "Hello again"},
        ], None, None, {}),
        ("extra_kwargs", [{"role": "user", "content": "Hi"}], None, None, {"custom_flag": True, "bos_token": "<BOS>"}),
    ]
    # A long conversation with tools (the benchmark's shape): 20 messages.
    long_msgs = [sys_msg]
    for i in range(4):
        long_msgs += [
            {"role": "user", "content": f"Question {i}: what's the weather in city number {i}? Please be precise."},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": f"City{i}", "unit": "celsius"}}}]},
            {"role": "tool", "content": json.dumps({"city": f"City{i}", "temperature": 10 + i, "sky": "clear"})},
            {"role": "assistant", "content": f"In City{i} it is {10 + i} degrees and clear.",
             "reasoning_content": f"The tool returned {10 + i}."},
        ]
    long_msgs += [{"role": "user", "content": "Summarize everything."},
                  {"role": "assistant", "content": "All four cities are clear, 10 to 13 degrees."},
                  {"role": "user", "content": "Thanks, and the forecast for tomorrow?"}]
    assert len(long_msgs) == 20, len(long_msgs)
    convs.append(("long_20_with_tools", long_msgs, [WEATHER_TOOL, SEARCH_TOOL], None, {}))
    return convs


def reference_conversations(tok_dir):
    """The inputs of the shared reference_chat.jsonl (rendered there by @huggingface/jinja), so the
    tests can tell a disagreement between that reference and Python apart from a bug of ours."""
    path = os.path.join(tok_dir, "reference_chat.jsonl")
    if not os.path.exists(path):
        return []
    convs = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            convs.append((f"reference/{i}", r["messages"], r.get("tools"), None, {}, [r["add_generation_prompt"]]))
    return convs


def model_vectors(tok_dir):
    tok = AutoTokenizer.from_pretrained(tok_dir)
    out = []
    convs = [c + ((True, False),) for c in conversations()] + reference_conversations(tok_dir)
    for name, messages, tools, documents, kwargs, agps in convs:
        for agp in agps:
            rec = {"name": f"{name}/agp={int(agp)}", "messages": messages, "tools": tools, "documents": documents,
                   "add_generation_prompt": agp, "kwargs": kwargs}
            try:
                rec["prompt"] = tok.apply_chat_template(messages, tools=tools, documents=documents,
                                                        add_generation_prompt=agp, tokenize=False, **kwargs)
            except Exception as e:  # recorded: the C++ side must fail too
                rec["error"] = f"{type(e).__name__}: {e}"
            out.append(rec)
    return out


# ---- feature templates ----------------------------------------------------------------------------
CTX = {
    "xs": [3, 1, 2],
    "words": ["banana", "Apple", "cherry", "apple"],
    "d": {"b": 2, "a": 1, "c": None},
    "s": "Hello, World",
    "u": "héllo wörld ß",
    "n": 7,
    "f": 2.5,
    "t": True,
    "none": None,
    "users": [{"name": "ann", "age": 31, "admin": True}, {"name": "bob", "age": 25, "admin": False},
              {"name": "cid", "age": 40}],
    "nested": {"a": {"b": {"c": [10, 20, 30]}}},
    "msg": {"role": "user", "content": "hi", "items": "key named items"},
    "empty": [],
    "text": "line one\nline two\n\nline four",
}

FEATURES = [
    # literals and printing (Python str())
    ("lit_ints", "{{ 1 }}|{{ -3 }}|{{ 1_000 }}|{{ 0 }}"),
    ("lit_floats", "{{ 1.0 }}|{{ 2.50 }}|{{ 1e3 }}|{{ 1.5e-7 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 123456789.123 }}|{{ -0.0 }}"),
    ("lit_bools", "{{ true }}|{{ True }}|{{ false }}|{{ False }}|{{ none }}|{{ None }}"),
    ("lit_strings", "{{ 'a' \"b\" }}|{{ 'it\\'s' }}|{{ \"tab\\there\" }}|{{ '\\u00e9\\x41\\n' }}"),
    ("lit_list_repr", "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }}"),
    ("lit_tuple_repr", "{{ (1,) }}|{{ (1, 2) }}|{{ () }}|{{ 1, 2 }}"),
    ("lit_dict_repr", "{{ {'a': 1, 'b': [1, 2], 3: 'x'} }}|{{ {} }}"),
    ("repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', 'nl\\n'] }}"),
    ("repr_unicode", "{{ ['é', '日本', '\\u00a0', '\\u200b', '\\x07', '👍'] }}"),
    ("print_context", "{{ xs }}|{{ d }}|{{ users[0] }}|{{ f }}|{{ t }}|{{ none }}|{{ nested }}"),
    # arithmetic
    ("arith_basic", "{{ 7 + 2 }}|{{ 7 - 2 }}|{{ 7 * 2 }}|{{ 7 / 2 }}|{{ 8 / 2 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 2 ** 10 }}"),
    ("arith_negative", "{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ -7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 2 ** -2 }}|{{ (-2) ** 3 }}"),
    ("arith_mixed", "{{ 1 + 2.0 }}|{{ true + 1 }}|{{ 3 * 1.5 }}|{{ 10 / 4 }}|{{ n * f }}|{{ 2.0 ** 0.5 }}"),
    ("arith_precedence", "{{ 2 + 3 * 4 }}|{{ (2 + 3) * 4 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 10 - 2 - 3 }}|{{ 100 / 10 / 5 }}"),
    ("string_ops", "{{ 'ab' + 'cd' }}|{{ 'ab' * 3 }}|{{ 3 * 'x' }}|{{ 'a' ~ 1 ~ none ~ true ~ 1.5 }}|{{ [1] + [2] }}|{{ [0] * 3 }}"),
    ("string_percent", "{{ '%s and %s' % ('a', 1) }}|{{ '%d%%' % 50 }}|{{ '%5.2f|%-4s|%04d' % (3.14159, 'x', 42) }}|{{ '%(a)s' % {'a': 9} }}"),
    # comparisons and logic
    ("compare", "{{ 1 < 2 }}|{{ 2 <= 2 }}|{{ 3 > 4 }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 3] }}|{{ 1 == 1.0 }}|{{ 'a' != 'a' }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}"),
    ("compare_mixed_eq", "{{ 1 == '1' }}|{{ none == none }}|{{ [1] == [1] }}|{{ {'a': 1} == {'a': 1} }}|{{ true == 1 }}|{{ undefined_thing == undefined_other }}"),
    ("in_ops", "{{ 'ell' in s }}|{{ 2 in xs }}|{{ 'a' in d }}|{{ 'z' not in d }}|{{ 5 not in xs }}|{{ 'x' in undefined_thing }}"),
    ("logic", "{{ true and false }}|{{ true or false }}|{{ not true }}|{{ 0 or 'fallback' }}|{{ 'a' and 'b' }}|{{ none or [] }}|{{ not none }}"),
    ("logic_precedence", "{{ not 1 == 2 }}|{{ true or false and false }}|{{ not xs is defined }}|{{ (true or false) and false }}"),
    ("cond_expr", "{{ 'yes' if t else 'no' }}|{{ 'yes' if none else 'no' }}|[{{ 'only' if false }}]|{{ 1 if false else 2 if true else 3 }}"),
    # attribute / item access
    ("access", "{{ d.a }}|{{ d['b'] }}|{{ nested.a.b.c[1] }}|{{ nested['a']['b'].c[-1] }}|{{ users[1].name }}|{{ xs.0 }}|{{ msg.items is callable }}"),
    ("access_missing", "[{{ d.zzz }}]|[{{ xs[10] }}]|[{{ none[0] }}]|{{ d.zzz is defined }}|{{ users[2].admin is defined }}"),
    ("dict_method_vs_key", "{{ msg['items'] }}|{{ msg.get('role') }}|{{ msg.get('nope', 'dflt') }}|{{ msg.get('nope') }}"),
    ("slices", "{{ xs[::-1] }}|{{ xs[1:] }}|{{ xs[:2] }}|{{ xs[::2] }}|{{ s[7:] }}|{{ s[-5:-1] }}|{{ u[::-1] }}|{{ s[100:] }}|{{ xs[-100:1] }}"),
    ("string_index", "{{ s[0] }}|{{ s[-1] }}|{{ u[1] }}|[{{ s[99] }}]"),
    # statements
    ("if_elif_else", "{% for v in [1, 2, 3, 4] %}{% if v == 1 %}one{% elif v == 2 %}two{% elif v > 3 %}big{% else %}other{% endif %},{% endfor %}"),
    ("for_loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}"),
    ("for_prev_next", "{% for x in xs %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{{ loop.previtem is defined }}{% endfor %}"),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}"),
    ("for_changed", "{% for x in [1, 1, 2, 2, 3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}"),
    ("for_filter", "{% for u in users if u.age > 26 %}{{ loop.index }}/{{ loop.length }}:{{ u.name }} {% endfor %}"),
    ("for_else", "{% for x in empty %}x{% else %}empty!{% endfor %}|{% for x in xs if x > 100 %}x{% else %}none>100{% endfor %}"),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}"),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héllo' %}{{ c }}.{% endfor %}"),
    ("for_undefined", "[{% for x in nothing_here %}x{% endfor %}]"),
    ("for_nested_loop", "{% for a in [1, 2] %}{% for b in [1, 2] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}/{{ loop.index }} {% endfor %}"),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("set_scoping", "{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("set_scoping_iter", "{% set x = 5 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}[{{ x }}]"),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set c = 1, 2 %}{{ c }}"),
    ("set_block", "{% set block %}  Hello {{ s }}!\n{% endset %}[{{ block }}]"),
    ("set_block_filter", "{% set up | upper | trim %}  shout {{ n }}  {% endset %}[{{ up }}]"),
    ("namespace", "{% set ns = namespace(total=0, names=[]) %}{% for u in users %}{% set ns.total = ns.total + u.age %}{% set ns.names = ns.names + [u.name] %}{% endfor %}{{ ns.total }} {{ ns.names }} {{ ns.missing is defined }}"),
    ("namespace_repr", "{{ namespace(a=1, b='x') }}|{{ namespace({'k': 2}).k }}"),
    ("macro_basic", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('ann') }} {{ greet('bob', '?') }} {{ greet(punct='.', name='cid') }}"),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}"),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}"),
    ("macro_recursive", "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro %}{{ fact(6) }}"),
    ("macro_late_binding", "{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}{% set x = 2 %}{{ m() }}"),
    ("macro_default_refers_param", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}"),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %}"),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}{% call(item, idx) each(['x', 'y']) %}[{{ idx }}:{{ item }}]{% endcall %}"),
    ("filter_block", "{% filter upper %}hello {{ s }}{% endfilter %}|{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}"),
    ("generation_block", "{% for m in ['a', 'b'] %}{% generation %}<{{ m }}>{% endgeneration %}{% endfor %}"),
    ("with_block", "{% with a = 1, b = n %}{{ a + b }}{% endwith %}[{{ a }}]"),
    ("raw_block", "{% raw %}{{ not rendered }} {% if %}{% endraw %}|{{ n }}"),
    ("comments", "a{# comment #}b{#- trimmed -#}  c {# multi\nline #}d"),
    # whitespace control
    ("ws_trim_blocks", "{% if true %}\nline\n{% endif %}\nafter"),
    ("ws_lstrip_blocks", "start\n    {% if true %}\n    indented\n    {% endif %}\nend"),
    ("ws_minus", "a   {{- ' b ' -}}   c\n  {%- if true -%}  d  {%- endif -%}\n  e"),
    ("ws_plus", "x\n    {%+ if true %}kept{% endif %}\n  {% if true +%}\nno-trim{% endif %}"),
    ("ws_variable_not_lstripped", "a\n    {{ 'v' }}\n    {% if true %}b{% endif %}"),
    ("ws_trailing_newline", "text\n"),
    ("ws_comment_lines", "a\n  {# note #}\nb\n{#- x #}\nc"),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc"),
    ("ws_tab_lstrip", "a\n\t \t{% if true %}x{% endif %}"),
    ("ws_minus_newlines", "a\n\n\n{%- if true %}b{% endif -%}\n\n\nc"),
    # tests
    ("tests_types", "{{ 'x' is string }}{{ 1 is number }}{{ 1.0 is number }}{{ true is number }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}{{ d is mapping }}{{ xs is mapping }}{{ xs is iterable }}{{ 'x' is iterable }}{{ 1 is iterable }}{{ xs is sequence }}{{ d is sequence }}{{ true is boolean }}{{ 1 is boolean }}"),
    ("tests_values", "{{ none is none }}{{ 0 is none }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ x is undefined }}{{ xs is defined }}{{ 3 is odd }}{{ 3 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}"),
    ("tests_compare", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is in xs }}{{ 'a' is in 'abc' }}{{ 3 is gt 2 }}{{ 3 is lt 2 }}{{ 3 is ge 3 }}{{ 3 is le 2 }}{{ 1 is ne 1 }}{{ none is sameas none }}"),
    ("tests_callable", "{{ range is callable }}{{ xs is callable }}{{ s.upper is callable }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'upper' is filter }}{{ 'odd' is test }}"),
    ("tests_not", "{{ xs is not none }}{{ none is not none }}{{ d.missing is not defined }}"),
    # filters
    ("f_trim", "[{{ '  a b  '|trim }}]|[{{ 'xxaxx'|trim('x') }}]|[{{ none|trim }}]"),
    ("f_length", "{{ xs|length }}{{ s|length }}{{ u|length }}{{ d|count }}{{ nothing|length }}"),
    ("f_case", "{{ s|upper }}|{{ s|lower }}|{{ 'hello wORLD-foo(bar) x'|title }}|{{ 'hELLO world'|capitalize }}|{{ u|upper }}|{{ 'ÉCOLE'|lower }}"),
    ("f_default", "{{ missing|default('dflt') }}|{{ none|default('dflt') }}|{{ none|default('dflt', true) }}|{{ ''|d('empty', boolean=true) }}|{{ missing|default }}|{{ 0|default(5) }}"),
    ("f_join", "{{ xs|join(', ') }}|{{ words|join }}|{{ users|join('/', attribute='name') }}|{{ [1, none, 'a']|join('-') }}"),
    ("f_replace", "{{ s|replace('o', '0') }}|{{ s|replace('l', 'L', 2) }}|{{ 'aaa'|replace('', '-') }}"),
    ("f_first_last", "{{ xs|first }}{{ xs|last }}{{ s|first }}{{ s|last }}|{{ d|first }}|[{{ empty|first }}]"),
    ("f_list_items", "{{ 'abc'|list }}|{{ d|list }}|{{ d|items|list }}|{{ d.items()|list }}|{{ d.keys()|list }}|{{ d.values()|list }}"),
    ("f_selectattr", "{{ users|selectattr('admin')|map(attribute='name')|list }}|{{ users|rejectattr('admin')|map(attribute='name')|list }}|{{ users|selectattr('age', 'gt', 30)|list|length }}|{{ users|selectattr('admin', 'defined')|list|length }}|{{ users|selectattr('name', 'equalto', 'bob')|first }}"),
    ("f_select", "{{ range(10)|select('odd')|list }}|{{ range(10)|reject('divisibleby', 3)|list }}|{{ [0, 1, '', 'a', none]|select|list }}"),
    ("f_map", "{{ xs|map('string')|join('') }}|{{ users|map(attribute='age')|sum }}|{{ users|map(attribute='admin', default='?')|list }}|{{ words|map('upper')|list }}|{{ ['a', 'b']|map('replace', 'a', 'z')|list }}"),
    ("f_generator_truthy", "{{ (empty|select|list) is sameas false }}|{% if empty|select %}gen-truthy{% endif %}|{% if empty|select|list %}x{% else %}list-falsy{% endif %}"),
    ("f_string_int_float", "{{ 5|string + 'x' }}|{{ '42'|int + 1 }}|{{ '42.7'|int }}|{{ 'abc'|int }}|{{ 'abc'|int(7) }}|{{ '0x1f'|int(base=16) }}|{{ 3.9|int }}|{{ '2.5'|float * 2 }}|{{ 'x'|float }}|{{ 3|float }}|{{ ' 12 '|int }}"),
    ("f_abs_round", "{{ -3|abs }}|{{ (-3.5)|abs }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 3.14159|round(3, 'floor') }}|{{ 3.11|round(1, 'ceil') }}|{{ 7|round }}|{{ 1234.5678|round(-2) }}"),
    ("f_safe_escape", "{{ '<b>\"x\" & \\'y\\'</b>'|e }}|{{ '<i>'|escape }}|{{ '<ok>'|safe }}|{{ none|safe }}"),
    ("f_indent", "[{{ text|indent }}]\n[{{ text|indent(2, true) }}]\n[{{ text|indent(first=true, blank=true) }}]\n[{{ text|indent('> ') }}]\n[{{ 'single'|indent(first=true) }}]"),
    ("f_dictsort", "{{ d|dictsort }}|{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }}|{{ {'b': 1, 'A': 2, 'a': 3}|dictsort(true) }}|{{ {'x': 2, 'y': 1}|dictsort(by='value') }}|{{ d|dictsort(reverse=true) }}"),
    ("f_unique_sort", "{{ words|unique|list }}|{{ words|unique(true)|list }}|{{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ xs|sort(reverse=true) }}|{{ users|sort(attribute='age')|map(attribute='name')|list }}"),
    ("f_reverse", "{{ xs|reverse|list }}|{{ 'abc'|reverse }}|{{ u|reverse }}"),
    ("f_min_max_sum", "{{ xs|max }}{{ xs|min }}{{ xs|sum }}|{{ words|max }}|{{ words|min(case_sensitive=true) }}|{{ users|max(attribute='age') }}|{{ [1.5, 2]|sum(start=10) }}|[{{ empty|max }}]"),
    ("f_batch", "{{ range(7)|batch(3)|list }}|{{ range(5)|batch(2, 'x')|list }}"),
    ("f_wordcount_center", "{{ 'one two  three,four'|wordcount }}|[{{ 'ab'|center(7) }}]|[{{ 'abc'|center(6) }}]|[{{ 'héé'|center(8) }}]"),
    ("f_format", "{{ '%s-%s'|format('a', 2) }}|{{ '%(x)s!'|format(x='kw') }}|{{ '%.3f'|format(1/3) }}|{{ '%5s|%-5s|'|format('r', 'l') }}"),
    ("f_truncate", "{{ 'hello world this is long'|truncate(12) }}|{{ 'hello world this is long'|truncate(12, true) }}|{{ 'short'|truncate(12) }}"),
    ("f_attr", "{{ users[0]|attr('name') }}|{{ msg|attr('role') }}"),
    ("f_tojson", "{{ d|tojson }}|{{ users[0]|tojson }}|{{ 'é \"q\" \\n <&>'|tojson }}|{{ [1.0, 2.5, 1e20, none, true]|tojson }}|{{ (1, 2)|tojson }}|{{ {1: 'int key', none: 'none key'}|tojson }}"),
    ("f_tojson_indent", "{{ nested|tojson(indent=2) }}\n{{ users[1]|tojson(indent=4) }}\n{{ {'e': [], 'f': {}}|tojson(indent=2) }}\n{{ xs|tojson(indent='\\t') }}"),
    ("f_tojson_options", "{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é😀'|tojson(ensure_ascii=true) }}|{{ users[1]|tojson(indent=1, sort_keys=true) }}"),
    ("f_filter_chain_precedence", "{{ 'a' ~ 'b'|upper }}|{{ -3|abs }}|{{ 2 + xs|length }}|{{ words|length * 2 }}|{{ 'x '|trim ~ 'y' }}"),
    # str methods
    ("m_strip", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.lstrip('x') }}][{{ 'xxaxx'.rstrip('x') }}][{{ '\\n\\na\\n'.strip('\\n') }}][{{ ' a '.lstrip() }}][{{ ' a '.rstrip() }}]"),
    ("m_split", "{{ 'a,b,,c'.split(',') }}|{{ '  a b  c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b c  '.split(none, 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'x</think>y</think>z'.split('</think>')[-1] }}|{{ 'l1\\nl2\\r\\nl3'.splitlines() }}"),
    ("m_affix", "{{ s.startswith('Hell') }}{{ s.startswith('World', 7) }}{{ s.endswith('World') }}{{ s.endswith(('x', 'ld')) }}{{ s.startswith(('a', 'b')) }}"),
    ("m_case", "{{ s.upper() }}|{{ s.lower() }}|{{ \"they're bill's\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'HeLLo'.swapcase() }}"),
    ("m_find_count", "{{ s.find('o') }}|{{ s.find('z') }}|{{ s.rfind('o') }}|{{ s.count('l') }}|{{ u.find('w') }}|{{ s.index('W') }}"),
    ("m_replace_format_join", "{{ s.replace('l', '_') }}|{{ s.replace('l', '_', 1) }}|{{ '{} + {} = {:>4}'.format(1, 2, 3) }}|{{ '{name}:{0:.2f}'.format(3.14159, name='pi') }}|{{ ', '.join(words) }}"),
    ("m_predicates", "{{ '123'.isdigit() }}{{ '12a'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'ab1'.isalnum() }}{{ '  '.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}{{ ''.isdigit() }}"),
    ("m_misc", "{{ 'ab'.center(6, '*') }}|{{ '7'.zfill(3) }}|{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}|{{ 'prefix-x'.removeprefix('prefix-') }}|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}"),
    ("m_list", "{{ xs.index(1) }}|{{ [1, 1, 2].count(1) }}|{{ (1, 2).index(2) }}"),
    # globals
    ("g_range", "{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ range(0)|list }}"),
    ("g_dict", "{{ dict(a=1, b='x') }}|{{ dict([('k', 1)]) }}|{{ dict(d, z=0) }}|{{ dict.fromkeys(['a', 'b'], 0) }}"),
    ("g_cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}|{% set j = joiner('+') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %}"),
    ("special_vars", "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ messages|length }}|{{ tools is none }}"),
    # realistic template shapes (written for these tests)
    ("tmpl_tools_indent_json", "{%- if tools %}{{- 'Tools:\\n' }}{%- for t in tools %}{{- t|tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}{%- endif %}\n{%- for m in messages %}\n    {%- if m.role not in ['user', 'assistant', 'system'] %}\n        {{- raise_exception('bad role') }}\n    {%- endif %}\n<|{{ m.role }}|>\n{{ m.content | trim }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n<|assistant|>\n{% endif %}"),
    ("tmpl_alternating_roles", "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"),
    ("tmpl_system_first", "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = 'Default system.' %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n<<SYS>>{{ system_message }}<</SYS>>\n{%- for message in loop_messages %}\n  {%- if message.role == 'user' %}\nU: {{ message.content }}\n  {%- else %}\nA: {{ message.content }}\n  {%- endif %}\n{%- endfor %}"),
]

# Contexts for the model-shaped feature templates.
CHAT_CTX = {
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hi there  "},
                 {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}],
    "tools": [WEATHER_TOOL], "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>",
}

# Templates that must fail (syntax errors with their line, runtime errors with a clear message).
ERRORS = [
    ("err_unclosed_if", "line1\n{% if true %}\nbody\n"),
    ("err_unknown_tag", "a\n\n  {% frobnicate %}"),
    ("err_bad_expr", "{{ 1 + }}"),
    ("err_unclosed_var", "text {{ name "),
    ("err_unknown_filter", "ok\n{{ x|nosuchfilter }}"),
    ("err_unknown_test", "{% if x is nosuchtest %}{% endif %}"),
    ("err_endfor_mismatch", "{% for x in xs %}\n{% endif %}"),
    ("err_break_outside_loop", "{% break %}"),
    ("err_unterminated_string", "{{ 'abc }}"),
    ("err_unbalanced_paren", "{{ (1 + 2 }}"),
    ("err_raise_exception", "{% if true %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"),
    ("err_undefined_call", "{{ nothing() }}"),
    ("err_undefined_attr", "{{ nothing.attr }}"),
    ("err_undefined_arith", "{{ nothing + 1 }}"),
    ("err_type_add", "{{ 'a' + 1 }}"),
    ("err_type_add_int_str", "{{ 1 + 'a' }}"),
    ("err_div_zero", "{{ 1 / 0 }}"),
    ("err_list_append", "{% set l = [] %}{{ l.append(1) }}"),
    ("err_dict_pop", "{{ d.pop('a') }}"),
    ("err_range_too_big", "{% for i in range(1000000) %}{% endfor %}"),
    ("err_generator_len", "{{ xs|select|length }}"),
    ("err_macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
    ("err_set_attr_non_namespace", "{% set d.x = 1 %}"),
    ("err_namespace_underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}"),
    ("err_unpack", "{% for a, b in [1, 2] %}{% endfor %}"),
    ("err_compare_types", "{{ 1 < 'a' }}"),
    ("err_tojson_undefined", "{{ nothing|tojson }}"),
    ("err_not_callable", "{{ xs() }}"),
    ("err_unknown_method_call", "{{ s.nosuchmethod() }}"),
]


def render_feature(template, ctx):
    try:
        return {"expected": _compile_jinja_template(template).render(**ctx)}
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": {"type": type(e).__name__, "message": e.message or str(e), "line": e.lineno}}
    except Exception as e:  # noqa: BLE001 - every failure is a vector
        return {"error": {"type": type(e).__name__, "message": str(e), "line": None}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "chat"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tok_root = os.path.join(args.shared, "fixtures", "tokenizers")
    header = {"generator": "tools/make_chat_vectors.py", "transformers": transformers.__version__,
              "jinja2": jinja2.__version__}

    for model in ("qwen3", "llama3_1"):
        recs = model_vectors(os.path.join(tok_root, model))
        path = os.path.join(args.out, f"{model}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps({"header": header}, ensure_ascii=False) + "\n")
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{path}: {len(recs)} renders, {sum('error' in r for r in recs)} errors")

    recs = []
    base_ctx = dict(CTX, messages=CHAT_CTX["messages"], tools=None, add_generation_prompt=False,
                    bos_token="<s>", eos_token="</s>")
    for name, template in FEATURES:
        ctx = CHAT_CTX if name.startswith("tmpl_") else base_ctx
        recs.append(dict({"name": name, "template": template, "context": ctx}, **render_feature(template, ctx)))
    for name, template in ERRORS:
        rec = dict({"name": name, "template": template, "context": base_ctx}, **render_feature(template, base_ctx))
        if "error" not in rec:
            sys.exit(f"{name}: expected an error, Python rendered {rec['expected']!r}")
        recs.append(rec)
    path = os.path.join(args.out, "features.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"header": header}, ensure_ascii=False) + "\n")
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    bad = [r["name"] for r in recs if r["name"].startswith(("lit_", "f_", "m_", "g_")) and "error" in r]
    print(f"{path}: {len(recs)} templates ({sum('error' in r for r in recs)} errors){'; unexpected errors: ' + str(bad) if bad else ''}")


if __name__ == "__main__":
    main()
