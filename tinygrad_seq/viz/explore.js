// The explorer's script: it only highlights, steps and shows details.
//
// Python (tinygrad_seq/viz/explore.py) wrote everything on this page: the graph as Graphviz
// laid it out (SVG), the Wengert list, the chart of ||dL/dh_t||, the table of leaves, and one
// data object, read below:
//
//   nodes     the graph's ops in tape order; each has
//               id        the name Graphviz gave its box ("op12")
//               line      its line in the Wengert list
//               op, scope, dtype, step (its time step in `steps`, or null), layer
//               outputs   [{name, shape, value, grad}]: value and gradient summaries
//               inputs    [{label, shape, grad, node or leaf, running}]: grad is what its
//                         backward sent to that input; running, for a leaf, the norm of the
//                         leaf's gradient summed so far
//   leaves    [{id, name, parameter, shape, dtype, value, grad,
//               shares: [[backward step, norm of the gradient summed so far], ...]}]
//   backward  the nodes in the order the backward walk ran them
//   steps     the time steps in the order they ran: [{id (of its cluster or cell), label, h, c}]
//   formulas  op -> its docstring: the formula of its forward and its backward
//
// A summary is {min, max, mean, norm}; for an array small enough to show whole, {norm, values}.
// The player's position: -1 before anything ran, 0 .. nodes-1 forward, then backward.
"use strict";

const data = JSON.parse(document.getElementById("explorer-data").textContent);
const forwardSteps = data.nodes.length;
const lastPosition = forwardSteps + data.backward.length - 1;
const backwardStep = new Map(data.backward.map((node, b) => [node, b]));   // node -> its step

// ------------------------------------------------------------------ finding things on the page
const graphPane = document.getElementById("graph");
const lines = Array.from(document.querySelectorAll("#wengert li"));
const leafRows = new Map(Array.from(document.querySelectorAll("#leaves tr[data-leaf]"),
                                    row => [Number(row.dataset.leaf), row]));
const expansions = new Map(Array.from(document.querySelectorAll(".expansion"),
                                      div => [div.dataset.step, div]));
const slider = document.getElementById("slider");

// Graphviz names every node, cluster and edge in its <title>: "op12", "leaf7", "op3->op12".
// The same name can appear twice: in the graph and in a cell's expansion.
const byName = new Map();
const edges = [];            // {g, head: the name of the node the edge goes into}
for (const g of document.querySelectorAll("svg g.node, svg g.cluster, svg g.edge")) {
  const name = g.querySelector("title").textContent;
  if (!byName.has(name)) byName.set(name, []);
  byName.get(name).push(g);
  if (g.classList.contains("edge")) edges.push({g, head: name.split("->")[1]});
}
const named = name => byName.get(name) || [];
const nodeByName = new Map(data.nodes.map((node, i) => [node.id, i]));
const leafByName = new Map(data.leaves.map((leaf, k) => [leaf.id, k]));
const stepById = new Map(data.steps.map((step, s) => [step.id, s]));

// The boxes that stand for node i: its own, or where it has none in the graph (the cell view)
// its time step's cell, or its layer's box.
function elementsOfNode(i) {
  const node = data.nodes[i];
  const found = [...named(node.id)];
  if (!found.some(g => graphPane.contains(g))) {
    const step = node.step === null ? null : document.getElementById(data.steps[node.step].id);
    found.push(...(step ? [step] : named("layer/" + node.layer)));
  }
  return found;
}

// A leaf's box, and the small copies of a shared weight inside each step ("leaf7_s3").
function elementsOfLeaf(k) {
  const id = data.leaves[k].id;
  return [...byName].filter(([name]) => name === id || name.startsWith(id + "_"))
                    .flatMap(([, gs]) => gs);
}

// How many ops read output k of node i: in backward, that many shares of gradient add up there.
const readers = data.nodes.map((node, i) => node.outputs.map((out, k) =>
  data.nodes.filter(other => other.inputs.some(input => input.node === i &&
                                                        input.output === k)).length));

// (found once: the player asks for every node's boxes at every step)
const nodeBoxes = data.nodes.map((node, i) => elementsOfNode(i));
const leafBoxes = data.leaves.map((leaf, k) => elementsOfLeaf(k));
const boxes = [...new Set([...nodeBoxes, ...leafBoxes].flat())];    // (not the legend)

// What a click or a hover landed on: {node}, {leaf} or {step}, or null.
function thingAt(target) {
  const g = target.closest("g.node, g.cluster");
  if (!g) return null;
  const name = g.querySelector("title").textContent;
  const step = stepById.get(g.id.replace(/^x-/, ""));
  if (nodeByName.has(name)) return {node: nodeByName.get(name)};
  if (leafByName.has(name.split("_")[0])) return {leaf: leafByName.get(name.split("_")[0])};
  if (step !== undefined) return {step};
  return null;
}

function mark(elements, cls, on = true) {
  for (const e of elements) e.classList.toggle(cls, on);
}

function clear(cls) {
  mark(Array.from(document.getElementsByClassName(cls)), cls, false);
}

// Scroll `element` into view inside its scrolling pane only (the page itself stays put).
function reveal(element, pane) {
  if (!element || !pane) return;
  const box = element.getBoundingClientRect(), view = pane.getBoundingClientRect();
  if (box.left < view.left || box.right > view.right)
    pane.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
  if (box.top < view.top || box.bottom > view.bottom)
    pane.scrollTop += box.top - view.top - (view.height - box.height) / 2;
}

// ------------------------------------------------------------------ numbers and summaries
function num(x, digits = 4) {
  if (typeof x === "string") return x;                  // "nan", "inf"
  if (x === 0) return "0";
  const size = Math.abs(x);
  if (size >= 1e-3 && size < 1e4) return String(Number(x.toPrecision(digits)));
  return x.toExponential(digits - 1);
}

function values(v) {
  if (!Array.isArray(v)) return num(v);
  if (v.length && Array.isArray(v[0])) return v.map(values).join("\n");
  return "[" + v.map(x => num(x, 3)).join(", ") + "]";
}

// A small array is shown whole (with its norm), a bigger one by min, max, mean and norm.
function summary(s) {
  if (!s) return '<span class="missing">not recorded</span>';
  if (s.size === 0) return "empty";
  if ("values" in s && !Array.isArray(s.values)) return `<b>${num(s.values)}</b>`;
  const keys = "values" in s ? ["norm"] : ["min", "max", "mean", "norm"];
  const parts = keys.filter(k => k in s).map(k => `${k} <b>${num(s[k])}</b>`);
  const whole = "values" in s ? `<pre>${values(s.values)}</pre>` : "";
  return whole + parts.join(" &middot; ");
}

const escape = text => String(text).replace(/[&<>"]/g, c => `&#${c.charCodeAt(0)};`);
const shape = dims => "(" + dims.join(", ") + (dims.length === 1 ? ",)" : ")");
const lineText = i => lines[data.nodes[i].line].textContent;

function inputValue(input) {
  if ("node" in input && input.node !== null)
    return data.nodes[input.node].outputs[input.output].value;
  return "leaf" in input ? data.leaves[input.leaf].value : null;
}

// ------------------------------------------------------------------ the player
let position = -1;
let timer = null;

// The node the player runs at position p (null before the first).
function nodeAt(p) {
  return p < 0 ? null : p < forwardSteps ? p : data.backward[p - forwardSteps];
}

function show(p) {
  position = Math.max(-1, Math.min(lastPosition, p));
  const forward = position < forwardSteps;
  const i = nodeAt(position);
  const b = forward ? -1 : position - forwardSteps;

  // what has run so far: forward, the ops up to this one; backward, those whose backward ran
  const reached = n => forward ? n <= position : backwardStep.has(n) && backwardStep.get(n) <= b;
  const done = new Set();
  data.nodes.forEach((node, n) => {
    if (reached(n)) nodeBoxes[n].forEach(g => done.add(g));
    lines[node.line].classList.toggle("pending", !reached(n));
  });
  data.leaves.forEach((leaf, k) => {
    if (forward || leaf.shares.some(([step]) => step <= b))
      leafBoxes[k].forEach(g => done.add(g));
  });
  for (const g of boxes) g.classList.toggle("pending", !done.has(g));
  for (const edge of edges)
    edge.g.classList.toggle("pending", !named(edge.head).some(g => done.has(g)));

  clear("current");
  clear("flow");
  if (i !== null) {
    const node = data.nodes[i];
    if (node.step !== null) {
      follow(node.step);
      setStep(node.step);
    }
    mark(nodeBoxes[i], "current");
    mark(edges.filter(edge => edge.head === node.id).map(edge => edge.g), "flow");
    lines[node.line].classList.add("current");
    reveal(nodeBoxes[i].find(g => graphPane.contains(g)), graphPane);
    for (const g of nodeBoxes[i]) reveal(g, g.closest(".expansion"));
    reveal(lines[node.line], lines[node.line].parentElement);
  }
  showLeaves(b, forward);
  document.getElementById("now").innerHTML = i === null ? startText() :
    forward ? forwardText(i) : backwardText(i, b);
  document.getElementById("position").textContent = i === null ? "nothing has run yet" :
    forward ? `forward ${position + 1} / ${forwardSteps}: ${lineText(i).split(" =")[0]}` :
    `backward ${b + 1} / ${data.backward.length}: ${lineText(i).split(" =")[0]}`;
}

function startText() {
  return `<h2>Ready</h2><p>Nothing has run yet. Press <kbd>&rarr;</kbd> to run the first op,
    <kbd>space</kbd> to play. Forward runs the ${forwardSteps} ops in the order they were
    recorded; then backward runs their backwards in reverse order, from the output to the
    leaves (${data.backward.length} steps).</p><p class="hint">Faded: not run yet.</p>`;
}

const columns = '<col class="name"><col class="shape"><col>';   // of the tables below

function forwardText(i) {
  const node = data.nodes[i];
  const reads = node.inputs.map(input => `<tr><td>${escape(input.label)}</td>
    <td>${shape(input.shape)}</td><td>${summary(inputValue(input))}</td></tr>`).join("");
  const makes = node.outputs.map((out, k) => `<tr><td>${escape(out.name || "out" +
    (node.outputs.length > 1 ? `[${k}]` : ""))}</td><td>${shape(out.shape)}</td>
    <td>${summary(out.value)}</td></tr>`).join("");
  return `<h2>Forward, op ${i + 1} of ${forwardSteps}</h2>
    <p class="line">${escape(lineText(i))}</p>
    <p class="formula">${escape(data.formulas[node.op])}</p>
    <table>${columns}<tr><th colspan="3">reads</th></tr>${reads}
    <tr><th colspan="3">computes</th></tr>${makes}</table>`;
}

function backwardText(i, b) {
  const node = data.nodes[i];
  const name = lineText(i).split(" =")[0];
  const arrives = node.outputs.map((out, k) => `<tr><td>dL/d${escape(name)}${
    node.outputs.length > 1 ? `[${k}]` : ""}</td><td>${shape(out.shape)}</td>
    <td>${summary(out.grad)}${readers[i][k] > 1 ? `<br>the sum of the shares sent by the
    ${readers[i][k]} ops that read it` : ""}</td></tr>`).join("");
  const sends = node.inputs.map(input => {
    let into = "";
    if ("running" in input) {
      const leaf = data.leaves[input.leaf];
      const share = leaf.shares.findIndex(([step]) => step === b) + 1;
      into = `<br>added into ${escape(leaf.name)}.grad (share ${share} of ${leaf.shares.length}):
        ||${escape(leaf.name)}.grad|| so far <b class="running">${num(input.running, 6)}</b>`;
    }
    return `<tr><td>dL/d${escape(input.label)}</td><td>${shape(input.shape)}</td>
      <td>${input.label === "const" ? "no gradient (a constant)" : summary(input.grad)}${into}
      </td></tr>`;
  }).join("");
  return `<h2>Backward, step ${b + 1} of ${data.backward.length}: ${escape(node.op)}'s
    backward</h2><p class="line">${escape(lineText(i))}</p>
    <p class="formula">${escape(data.formulas[node.op])}</p>
    <table>${columns}<tr><th colspan="3">gradient arriving on its output</th></tr>${arrives}
    <tr><th colspan="3">gradients it sends to its inputs</th></tr>${sends}</table>
    <p class="hint">On the graph, the blue edges are its inputs': the gradients flow back
    along them, against the arrows.</p>`;
}

// The table of leaves: how many shares of its gradient each leaf got so far, and the norm of
// their sum; at the end that is the norm of its .grad.
function showLeaves(b, forward) {
  for (const [k, row] of leafRows) {
    const leaf = data.leaves[k];
    const got = forward ? [] : leaf.shares.filter(([step]) => step <= b);
    row.querySelector(".shares").textContent = `${got.length} / ${leaf.shares.length}`;
    row.querySelector(".running").textContent = got.length ? num(got[got.length - 1][1], 6) : "";
    row.classList.toggle("got", got.some(([step]) => step === b));
  }
}

// PgDn: on to the first op of the next time step; PgUp: back to the first op of the previous
// one ("first" in the player's order: backward runs a step's ops last to first).
function jumpStep(direction) {
  const stepAt = p => nodeAt(p) === null ? null : data.nodes[nodeAt(p)].step;
  const from = stepAt(position);
  let p = position;
  if (direction > 0) {
    while (p < lastPosition && (stepAt(p) === from || stepAt(p) === null)) p++;
  } else {
    while (p > 0 && (stepAt(p) === from || stepAt(p) === null)) p--;   // into the previous step
    while (p > 0 && stepAt(p - 1) === stepAt(p)) p--;                   // to its first op
  }
  show(p);
}

function play() {
  if (timer) return pause();
  if (position >= lastPosition) show(-1);
  document.getElementById("play").textContent = "pause";
  timer = setInterval(() => {
    show(position + 1);
    if (position >= lastPosition) pause();
  }, Number(document.getElementById("speed").value));
}

function pause() {
  clearInterval(timer);
  timer = null;
  document.getElementById("play").textContent = "play";
}

// ------------------------------------------------------------------ time steps and cells
function setStep(s) {
  clear("step-current");
  const step = data.steps[s];
  const boxes = [document.getElementById(step.id), document.getElementById("x-" + step.id)];
  mark(boxes.filter(Boolean), "step-current");
  mark(document.querySelectorAll(`#chart .bar[data-step="${s}"]`), "step-current");
  if (slider) slider.value = s;
  document.getElementById("step-label").textContent = `${step.label}: ` + stepNorms(step);
}

// The step's ||dL/dh_t|| (and ||dL/dc_t||): the gradients of its outputs named h_t and c_t.
function stepNorms(step) {
  if (step.h === null) return "no output named h_t in this step (h.name = \"h_t\" names one)";
  return `||dL/dh_t|| ${num(step.h)}` + (step.c === null ? "" : `, ||dL/dc_t|| ${num(step.c)}`);
}

// Open a cell's expansion (one at a time); the same cell again folds it.
function expand(s, toggle = true) {
  const div = expansions.get(data.steps[s].id);
  if (!div) return;
  const open = !div.hidden;
  for (const other of expansions.values()) other.hidden = true;
  div.hidden = toggle && open;
}

// While an expansion is open, it follows the player from step to step.
function follow(s) {
  const open = [...expansions.values()].some(div => !div.hidden);
  if (open && expansions.has(data.steps[s].id)) expand(s, false);
}

// ------------------------------------------------------------------ details
function showDetails(thing) {
  clear("selected");
  const pane = document.getElementById("details");
  if (thing.node !== undefined) {
    const node = data.nodes[thing.node];
    mark(nodeBoxes[thing.node], "selected");
    lines[node.line].classList.add("selected");
    const outs = node.outputs.map((out, k) => `<tr><td>${escape(out.name || "out" + (
      node.outputs.length > 1 ? `[${k}]` : ""))} ${shape(out.shape)} ${node.dtype}</td></tr>
      <tr><td>value: ${summary(out.value)}</td></tr>
      <tr><td>gradient: ${summary(out.grad)}</td></tr>`).join("");
    const ins = node.inputs.map(input => `<tr><td>${escape(input.label)} ${shape(input.shape)}
      </td></tr><tr><td>gradient sent to it: ${summary(input.grad)}</td></tr>`).join("");
    pane.innerHTML = `<h2>${escape(node.op)}</h2><p class="line">${escape(lineText(thing.node))}
      </p><p>scope: ${escape(node.scope || "(none)")}</p>
      <p class="formula">${escape(data.formulas[node.op])}</p>
      <table><tr><th>output</th></tr>${outs}<tr><th>inputs</th></tr>${ins}</table>`;
  } else if (thing.leaf !== undefined) {
    const leaf = data.leaves[thing.leaf];
    mark(leafBoxes[thing.leaf], "selected");
    const users = data.nodes.filter(node => node.inputs.some(input => input.leaf === thing.leaf));
    users.forEach(node => lines[node.line].classList.add("selected"));
    pane.innerHTML = `<h2>${escape(leaf.name)}</h2><p>${leaf.parameter ? "parameter" :
      "input"} ${shape(leaf.shape)} ${leaf.dtype}, read by ${users.length} op(s);
      ${leaf.shares.length} share(s) of gradient added into its .grad</p>
      <table><tr><td>value: ${summary(leaf.value)}</td></tr>
      <tr><td>.grad: ${summary(leaf.grad)}</td></tr></table>`;
  } else {
    const step = data.steps[thing.step];
    const ops = data.nodes.filter(node => node.step === thing.step);
    ops.forEach(node => lines[node.line].classList.add("selected"));
    if (ops.length) reveal(lines[ops[0].line], lines[ops[0].line].parentElement);
    pane.innerHTML = `<h2>${escape(step.label)}</h2><p>${ops.length} op(s) in this step</p>
      <p>${escape(stepNorms(step))}</p>`;
  }
}

// Hovering a box lights its lines; hovering a line lights its boxes.
function linesOf(thing) {
  if (thing.node !== undefined) return [lines[data.nodes[thing.node].line]];
  const inStep = node => node.step === thing.step;
  const readsLeaf = node => node.inputs.some(input => input.leaf === thing.leaf);
  return data.nodes.filter(thing.leaf !== undefined ? readsLeaf : inStep)
                   .map(node => lines[node.line]);
}

// ------------------------------------------------------------------ zoom
const drawing = graphPane.querySelector("svg");
const naturalWidth = drawing.width.baseVal.value;     // Graphviz's size, in pixels
let zoom = 1;

function setZoom(z) {
  zoom = Math.max(0.1, Math.min(4, z));
  drawing.style.width = `${naturalWidth * zoom}px`;
  drawing.style.height = "auto";
}

const fitZoom = () => Math.min(1, (graphPane.clientWidth - 4) / naturalWidth);

// ------------------------------------------------------------------ events
document.addEventListener("keydown", event => {
  if (event.target.matches("input, select, textarea")) return;    // the slider's own arrows
  const actions = {ArrowRight: () => show(position + 1), ArrowLeft: () => show(position - 1),
                   " ": play, Home: () => show(-1), End: () => show(lastPosition),
                   PageDown: () => jumpStep(1), PageUp: () => jumpStep(-1)};
  if (!actions[event.key]) return;
  event.preventDefault();
  if (event.key !== " ") pause();
  actions[event.key]();
});

const buttons = {first: () => show(-1), back: () => show(position - 1), play,
                 next: () => show(position + 1), last: () => show(lastPosition),
                 "zoom-in": () => setZoom(zoom * 1.25), "zoom-out": () => setZoom(zoom / 1.25),
                 "zoom-fit": () => setZoom(fitZoom()), "zoom-one": () => setZoom(1)};
for (const [id, action] of Object.entries(buttons)) {
  document.getElementById(id).addEventListener("click", event => {
    if (!id.startsWith("zoom") && id !== "play") pause();
    action();
    event.currentTarget.blur();      // so that space plays, and does not press it again
  });
}

document.addEventListener("click", event => {
  const line = event.target.closest("#wengert li[data-node]");
  const bar = event.target.closest("#chart .bar");
  const thing = line ? {node: Number(line.dataset.node)} :
    bar ? {step: Number(bar.dataset.step)} : event.target.closest("svg") &&
    thingAt(event.target);
  if (!thing) return;
  showDetails(thing);
  if (thing.step !== undefined) {
    setStep(thing.step);
    if (!bar) expand(thing.step);
  }
});

document.addEventListener("mouseover", event => {
  clear("hover");
  const line = event.target.closest("#wengert li[data-node]");
  if (line) return mark(nodeBoxes[Number(line.dataset.node)], "hover");
  const thing = event.target.closest("svg") && thingAt(event.target);
  if (thing) mark(linesOf(thing), "hover");
});

if (slider) slider.addEventListener("input", () => {
  setStep(Number(slider.value));
  reveal(document.getElementById(data.steps[Number(slider.value)].id), graphPane);
});

for (const [k, row] of leafRows) {
  const grad = data.leaves[k].grad;
  row.querySelector(".final").textContent = grad ? num(grad.norm, 6) : "none";
}
// The whole graph at first: cells show their colours even when small, ops need their text
setZoom(data.view === "cell" || fitZoom() >= 0.6 ? fitZoom() : 1);
if (data.steps.length) setStep(0);
show(-1);
