"""The directed graph of a hierarchical model: parameters -> latent effects -> data.

Every model the front door fits is stated as a graph of random processes. The graph is
what a future sampler route compiles into a log-density, and what users can draw to check
that the model is the one they meant.
"""

__all__ = ["ModelGraph", "Node"]


class Node:
    """A node of a model graph.

    Attributes
    ----------
    name : str
    role : {"parameter", "latent", "observed", "constant"}
    distribution : str
        The law of the node given its parents (``"N(0, Sigma_Subject)"``), or the prior
        (``"flat"``) for a parameter.
    plate : str or None
        The index the node is replicated over (``"Subject (18)"``), if any.
    """

    def __init__(self, name, role, distribution="", plate=None):
        if role not in ("parameter", "latent", "observed", "constant"):
            raise ValueError(f"role must be parameter/latent/observed/constant, got {role!r}")
        self.name, self.role, self.distribution, self.plate = name, role, distribution, plate

    def __repr__(self):
        p = f" [{self.plate}]" if self.plate else ""
        return f"{self.name}{p} ({self.role}): {self.distribution}"


class ModelGraph:
    """Directed acyclic graph of a hierarchical model.

    Attributes
    ----------
    nodes : dict of str -> Node
    edges : list of (parent, child)
    """

    def __init__(self, nodes=(), edges=()):
        self.nodes = {}
        self.edges = []
        for nd in nodes:
            self.add_node(nd)
        for a, b in edges:
            self.add_edge(a, b)

    def add_node(self, node):
        if node.name in self.nodes:
            raise ValueError(f"duplicate node {node.name!r}")
        self.nodes[node.name] = node
        return node

    def add_edge(self, parent, child):
        for n in (parent, child):
            if n not in self.nodes:
                raise ValueError(f"edge refers to unknown node {n!r}")
        self.edges.append((parent, child))

    def parents(self, name):
        return [a for a, b in self.edges if b == name]

    def children(self, name):
        return [b for a, b in self.edges if a == name]

    def depth(self):
        """Longest-path layer of each node (parameters at 0, data at the bottom)."""
        layer = {}

        def visit(n, seen=()):
            if n in seen:
                raise ValueError("model graph has a cycle")
            if n not in layer:
                ps = self.parents(n)
                layer[n] = 0 if not ps else 1 + max(visit(p, seen + (n,)) for p in ps)
            return layer[n]

        for n in self.nodes:
            visit(n)
        return layer

    def __repr__(self):
        lines = ["ModelGraph:"]
        for n in sorted(self.nodes.values(), key=lambda nd: self.depth()[nd.name]):
            ps = self.parents(n.name)
            lines.append(f"  {n!r}" + (f"   <- {', '.join(ps)}" if ps else ""))
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the graph with matplotlib (layered layout, top to bottom); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        layer = self.depth()
        n_layers = max(layer.values()) + 1 if layer else 1
        pos = {}
        for lv in range(n_layers):
            names = [n for n in self.nodes if layer[n] == lv]
            for i, n in enumerate(names):
                pos[n] = ((i + 1) / (len(names) + 1), 1.0 - (lv + 0.5) / n_layers)
        style = {"parameter": dict(boxstyle="round", fc="white", ec="C0"),
                 "latent": dict(boxstyle="circle,pad=0.3", fc="white", ec="C1"),
                 "observed": dict(boxstyle="circle,pad=0.3", fc="0.85", ec="k"),
                 "constant": dict(boxstyle="square", fc="white", ec="0.5")}
        for a, b in self.edges:
            ax.annotate("", xy=pos[b], xytext=pos[a],
                        arrowprops=dict(arrowstyle="-|>", color="0.4", shrinkA=18, shrinkB=18))
        for n, nd in self.nodes.items():
            x, y = pos[n]
            ax.text(x, y, n, ha="center", va="center", fontsize=9, bbox=style[nd.role], zorder=3)
            sub = nd.distribution + (f"\n[{nd.plate}]" if nd.plate else "")
            ax.text(x, y - 0.075, sub, ha="center", va="top", fontsize=7, color="0.3")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.05, 1.02)
        ax.set_axis_off()
        return ax


def lmm_graph(design, family="gaussian"):
    """Graph of ``y = X beta + sum_r Z_r b_r + e`` (or a GLMM with the given family)."""
    nodes = [Node("beta", "parameter", f"flat ({design.p} fixed effects)")]
    edges = []
    obs = {"gaussian": "N(X beta + Z b, sigma^2)",
           "binomial": "Binomial(n, logit^-1(X beta + Z b))",
           "poisson": "Poisson(exp(offset + X beta + Z b))"}[family]
    seen = set()
    for t in design.terms:
        tag = t.factor if t.factor not in seen else f"{t.factor}.{len([1 for s in seen if s.startswith(t.factor)])}"
        seen.add(tag)
        cov = f"Sigma_{tag}" if t.k > 1 else f"sd_{tag}"
        nodes.append(Node(cov, "parameter", f"{t.k}x{t.k} covariance" if t.k > 1 else "scale >= 0"))
        law = f"N(0, {cov})" if t.k > 1 else f"N(0, {cov}^2)"
        nodes.append(Node(f"b_{tag}", "latent", f"{law}: {', '.join(t.coef_names)}",
                          plate=f"{t.factor} ({t.n_levels})"))
        edges += [(cov, f"b_{tag}"), (f"b_{tag}", "y")]
    if family == "gaussian":
        nodes.append(Node("sigma", "parameter", "scale > 0"))
        edges.append(("sigma", "y"))
    nodes.append(Node("y", "observed", obs, plate=f"obs ({design.n})"))
    edges.append(("beta", "y"))
    return ModelGraph(nodes, edges)


def normal_means_graph(J):
    """Graph of ``y_j ~ N(theta_j, s_j^2), theta_j ~ N(mu, tau^2)``."""
    nodes = [Node("mu", "parameter", "flat"), Node("tau", "parameter", "scale >= 0"),
             Node("theta", "latent", "N(mu, tau^2)", plate=f"group ({J})"),
             Node("s", "constant", "known sd", plate=f"group ({J})"),
             Node("y", "observed", "N(theta_j, s_j^2)", plate=f"group ({J})")]
    return ModelGraph(nodes, [("mu", "theta"), ("tau", "theta"), ("theta", "y"), ("s", "y")])


