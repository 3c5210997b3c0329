"""SavedModels exported the way others export them, for checking `zoo.serve` against TF Serving.

Modelled on TF Serving's public test models (`half_plus_two`, `half_plus_three`), built here from
scratch: a TF1 `SavedModelBuilder` export with a `ParseExample` graph and an asset file, a
`tf.saved_model.save` of a plain `tf.Module`, and a Keras model's `export`. Every one computes
y = 0.5 * x + offset and offers Predict on `x`, Regress and Classify on serialized tf.Examples.
"""

from __future__ import annotations

import os
import tempfile

PREDICT = "tensorflow/serving/predict"
REGRESS = "tensorflow/serving/regress"
CLASSIFY = "tensorflow/serving/classify"


def save_half_plus_tf1(path: str, offset: float) -> None:
    """TF1 builder export, half_plus_three style: the offset comes from an asset file that the
    main op reads (a TF1 loader feeds the asset's new path to it only), so a right answer means
    the server ran the main op with the asset found inside the SavedModel."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tempfile.TemporaryDirectory() as scratch:
        asset_file = os.path.join(scratch, "offset.txt")
        with open(asset_file, "w") as f:
            f.write(f"{offset}\n")
        graph = tf.Graph()
        with graph.as_default():
            x = v1.placeholder(tf.float32, [None, 1], name="x")
            serialized = v1.placeholder(tf.string, [None], name="tf_example")
            features = v1.io.parse_example(serialized, {
                "x": v1.io.FixedLenFeature([1], tf.float32),
                "x2": v1.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
            })
            asset = tf.constant(asset_file, name="offset_path")
            v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset)
            added = v1.Variable(0.0, name="offset", collections=[v1.GraphKeys.LOCAL_VARIABLES])
            main_op = tf.group(v1.assign(added, tf.strings.to_number(tf.strings.strip(
                tf.io.read_file(asset)))))
            half = v1.Variable(0.5, name="a")
            info = v1.saved_model.utils.build_tensor_info
            build = v1.saved_model.signature_def_utils.build_signature_def
            inputs = {"inputs": info(serialized)}
            signatures = {
                "serving_default": build({"x": info(x)}, {"y": info(half * x + added)}, PREDICT),
                "regress_x_to_y": build(inputs, {"outputs": info(half * features["x"] + added)},
                                        REGRESS),
                "regress_x2_to_y3": build(inputs, {"outputs": info(half * features["x2"] + 3.0)},
                                          REGRESS),
                "classify_x_to_y": build(inputs, {"scores": info(half * features["x"] + added)},
                                         CLASSIFY),
            }
            with v1.Session(graph=graph) as session:
                session.run(v1.global_variables_initializer())
                builder = v1.saved_model.Builder(path)
                builder.add_meta_graph_and_variables(
                    session, ["serve"], signature_def_map=signatures,
                    assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                    main_op=main_op,
                )
                builder.save()


def save_half_plus_two_module(path: str) -> None:
    """`tf.saved_model.save` of a plain `tf.Module`: every signature's method name is Predict."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = tf.Variable(0.5), tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        def _from_examples(self, inputs):
            parsed = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return self.a * parsed["x"] + self.b

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": self._from_examples(inputs)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            return {"scores": self._from_examples(inputs)}

    module = HalfPlusTwo()
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.predict, "regress_x_to_y": module.regress,
        "classify_x_to_y": module.classify,
    })


def save_half_plus_two_keras(path: str) -> None:
    """A Keras model's own export (`model.export`): one Dense unit with weight 0.5, bias 2."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((1,), name="x"), keras.layers.Dense(1)])
    model.layers[-1].set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    model.export(path, format="tf_saved_model", verbose=False)


def save_echo_tf1(path: str, version: int) -> None:
    """`save_echo`'s twin from a TF1 builder: `prompts` -> `text` "v<version>:...", `length`."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        prompts = v1.placeholder(tf.string, [None], name="prompts")
        text = tf.strings.join([f"v{version}:", prompts])
        info = v1.saved_model.utils.build_tensor_info
        signature = v1.saved_model.signature_def_utils.build_signature_def(
            {"prompts": info(prompts)},
            {"text": info(text), "length": info(tf.strings.length(prompts))}, PREDICT,
        )
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save()


def write_predict_warmup(path: str, inputs: dict) -> None:
    """`assets.extra/tf_serving_warmup_requests` with one PredictLog, as TF Serving reads it."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(path, "assets.extra",
                                           "tf_serving_warmup_requests")) as writer:
        writer.write(log.SerializeToString())
