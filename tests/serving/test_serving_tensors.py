"""JSON <-> tensors exactly as TF Serving's json_tensor.cc (fast, in-process, no TensorFlow)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from zoo.serving import ServingError
from zoo.serving import tensors as t


def decode(doc, specs):
    return t.decode_predict(doc, specs)


def error_of(fn, *args) -> ServingError:
    with pytest.raises(ServingError) as info:
        fn(*args)
    return info.value


def test_row_format_one_input_takes_plain_values():
    inputs, rows = decode({"instances": [[1.0, 2.0], [3, 4]]}, {"x": "DT_FLOAT"})
    assert rows
    assert inputs["x"].dtype == np.float32 and inputs["x"].shape == (2, 2)


def test_row_format_several_inputs_take_objects():
    inputs, _ = decode(
        {"instances": [{"a": "x", "b": 1}, {"a": {"b64": "eQ=="}, "b": 2}]},
        {"a": "DT_STRING", "b": "DT_INT64"},
    )
    assert inputs["a"].tolist() == [b"x", b"y"]
    assert inputs["b"].dtype == np.int64 and inputs["b"].tolist() == [1, 2]


def test_row_format_rows_must_share_a_shape():
    error = error_of(decode, {"instances": [[1, 2], [3]]}, {"x": "DT_INT32"})
    assert error.code == "INVALID_ARGUMENT"


def test_row_format_objects_need_exactly_the_aliases():
    error = error_of(decode, {"instances": [{"a": 1}]}, {"a": "DT_INT32", "b": "DT_INT32"})
    assert "Missing but required: {b}" in error.message


def test_columnar_format_keeps_each_shape_and_allows_scalars():
    inputs, rows = decode({"inputs": {"k": 2.5, "v": [[1], [2], [3]]}},
                          {"k": "DT_FLOAT", "v": "DT_INT32"})
    assert not rows
    assert inputs["k"].shape == () and inputs["v"].shape == (3, 1)


def test_columnar_single_input_takes_the_value_itself():
    inputs, _ = decode({"inputs": ["a", "b"]}, {"prompts": "DT_STRING"})
    assert inputs["prompts"].tolist() == [b"a", b"b"]


def test_exactly_one_of_inputs_or_instances():
    both = error_of(decode, {"inputs": [1], "instances": [1]}, {"x": "DT_INT32"})
    assert both.message == (
        "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
    )
    neither = error_of(decode, {"signature_name": "x"}, {"x": "DT_INT32"})
    assert neither.message == "Missing 'inputs' or 'instances' key"


def test_json_parse_error_message():
    error = error_of(t.loads, b"{not json")
    assert error.code == "INVALID_ARGUMENT" and error.message.startswith("JSON Parse error: ")


@pytest.mark.parametrize("value,dtype", [
    (1.0, "DT_INT64"),          # int64 rejects 1.0
    (2**31, "DT_INT32"),        # int32 must fit
    (-1, "DT_UINT8"),
    (1, "DT_BOOL"),             # bool only true/false
    (True, "DT_FLOAT"),
    ("1", "DT_FLOAT"),
    (3, "DT_STRING"),
])
def test_type_rules(value, dtype):
    error = error_of(t.to_array, [value], dtype)
    assert "is not of expected type" in error.message


def test_accepted_values():
    assert t.to_array([2**62], "DT_INT64").tolist() == [2**62]
    assert t.to_array([True, False], "DT_BOOL").tolist() == [True, False]
    floats = t.to_array(json.loads("[NaN, Infinity, -Infinity, 1]"), "DT_FLOAT")
    assert np.isnan(floats[0]) and floats[1] == np.inf and floats[3] == 1.0


def test_b64_is_standard_base64_only():
    assert t.to_array({"b64": base64.b64encode(b"\xff\xfe").decode()}, "DT_STRING")[()] == (
        b"\xff\xfe"
    )
    assert t.to_array({"b64": "aGk"}, "DT_STRING")[()] == b"hi"  # padding optional
    error = error_of(t.to_array, {"b64": "-_-_"}, "DT_STRING")  # URL-safe alphabet
    assert error.code == "INVALID_ARGUMENT"


def test_float_outputs_are_shortest_round_trip_and_whole_numbers_keep_a_point():
    text = t.value_json(np.array([0.1, 3.0, 1e-7, np.nan, -np.inf], np.float32), "x")
    assert text == "[0.1,3.0,1e-07,NaN,-Infinity]"
    assert t.value_json(np.array([0.1], np.float64), "x") == "[0.1]"


def test_int64_outputs_are_json_numbers_and_bools_are_literals():
    assert t.value_json(np.array([[2**40], [-1]], np.int64), "x") == "[[1099511627776],[-1]]"
    assert t.value_json(np.array([True, False]), "x") == "[true,false]"


def test_strings_raw_unless_alias_ends_in_bytes():
    strings = np.array([b"h\xc3\xa9", b"a\"b"], dtype=object)
    assert t.value_json(strings, "text") == '["hé","a\\"b"]'
    assert t.value_json(strings, "text_bytes") == '[{"b64":"aMOp"},{"b64":"YSJi"}]'


def test_predict_replies():
    outputs = {"a": np.array([1, 2], np.int32), "b": np.array([[0.5], [1.5]], np.float32)}
    assert json.loads(t.encode_predict(outputs, row_format=True)) == {
        "predictions": [{"a": 1, "b": [0.5]}, {"a": 2, "b": [1.5]}]
    }
    assert json.loads(t.encode_predict(outputs, row_format=False)) == {
        "outputs": {"a": [1, 2], "b": [[0.5], [1.5]]}
    }
    one = {"a": np.array([1, 2], np.int32)}
    assert json.loads(t.encode_predict(one, row_format=True)) == {"predictions": [1, 2]}
    assert json.loads(t.encode_predict(one, row_format=False)) == {"outputs": [1, 2]}


def test_row_replies_need_a_shared_batch_size():
    outputs = {"a": np.array([1, 2]), "b": np.array([1, 2, 3])}
    assert "inconsistent batch size" in error_of(t.encode_predict, outputs, True).message


def test_error_body():
    assert json.loads(t.error_json('bad "x"')) == {"error": 'bad "x"'}
