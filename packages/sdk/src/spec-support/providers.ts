import type { ServerResponse } from 'node:http';
import { json, localServer, sse, type LocalServer, type Seen } from './servers';

/**
 * The OpenAI Chat Completions API as the real one answers: a chat.completion object, or with `stream: true`
 * chat.completion.chunk events ending in `[DONE]`, the last chunk (empty choices) carrying usage when
 * stream_options.include_usage asks for it. Model `gpt-4o` answers as the dated gpt-4o-2024-08-06; model `missing`
 * is a 404 in the API's error shape.
 */
export async function fakeOpenAI(): Promise<LocalServer> {
  return localServer((req: Seen, res: ServerResponse) => {
    const body = req.body as {
      model: string;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    if (body.model === 'missing') {
      return json(res, 404, {
        error: {
          message: 'The model `missing` does not exist or you do not have access to it.',
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      });
    }
    const model = body.model === 'gpt-4o' ? 'gpt-4o-2024-08-06' : body.model;
    if (req.url.endsWith('/responses')) return responses(res, model, body.stream === true);
    const usage = {
      prompt_tokens: 2480,
      completion_tokens: 514,
      total_tokens: 2994,
      prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    const id = 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT';
    const created = 1741569952;
    if (!body.stream) {
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello! How can I help?', refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage,
        service_tier: 'default',
        system_fingerprint: 'fp_fc9f1d7035',
      });
    }
    const withUsage = body.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], extra: Record<string, unknown> = withUsage ? { usage: null } : {}) => [
      null,
      {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_fc9f1d7035',
        choices,
        ...extra,
      },
    ];
    const events = [
      chunk([
        {
          index: 0,
          delta: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ]),
      chunk([{ index: 0, delta: { content: 'Hello' }, logprobs: null, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: '!' }, logprobs: null, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]),
      ...(withUsage ? [chunk([], { usage })] : []),
      [null, '[DONE]'],
    ] as [string | null, unknown][];
    sse(res, events);
  });
}

/** The Responses API: a response object, or its events ending in response.completed (which carries usage). */
function responses(res: ServerResponse, model: string, stream: boolean): void {
  const message = {
    type: 'message',
    id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'Hello!', annotations: [] }],
  };
  const response = (status: string, done: boolean) => ({
    id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
    object: 'response',
    created_at: 1741476542,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output: done ? [message] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: 3600,
          input_tokens_details: { cached_tokens: 2048 },
          output_tokens: 870,
          output_tokens_details: { reasoning_tokens: 128 },
          total_tokens: 4470,
        }
      : null,
    user: null,
    metadata: {},
  });
  if (!stream) return json(res, 200, response('completed', true));
  sse(res, [
    [
      'response.created',
      { type: 'response.created', sequence_number: 0, response: response('in_progress', false) },
    ],
    [
      'response.output_text.delta',
      {
        type: 'response.output_text.delta',
        sequence_number: 1,
        item_id: message.id,
        output_index: 0,
        content_index: 0,
        delta: 'Hello!',
      },
    ],
    [
      'response.completed',
      { type: 'response.completed', sequence_number: 2, response: response('completed', true) },
    ],
  ]);
}

/**
 * The Anthropic Messages API as the real one answers: a message object, or with `stream: true` the events
 * message_start (input and cache counts), content_block_start/ping/content_block_delta/content_block_stop,
 * message_delta (the output count) and message_stop. Model `missing` is a 404 in the API's error shape.
 */
export async function fakeAnthropic(): Promise<LocalServer> {
  return localServer((req: Seen, res: ServerResponse) => {
    const body = req.body as { model: string; stream?: boolean };
    if (body.model === 'missing') {
      return json(res, 404, {
        type: 'error',
        error: { type: 'not_found_error', message: 'model: missing' },
        request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy',
      });
    }
    const model = body.model === 'claude-sonnet-4-5' ? 'claude-sonnet-4-5-20250929' : body.model;
    const id = 'msg_01XFDUDYJgAACzvnptvVoYEL';
    if (!body.stream) {
      return json(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: 'Hello!' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: 2400,
          cache_creation_input_tokens: 3000,
          cache_read_input_tokens: 12000,
          cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
          output_tokens: 610,
          service_tier: 'standard',
        },
      });
    }
    sse(res, [
      [
        'message_start',
        {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            content: [],
            model,
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: 25,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 4000,
              cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
              output_tokens: 1,
              service_tier: 'standard',
            },
          },
        },
      ],
      [
        'content_block_start',
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      ],
      ['ping', { type: 'ping' }],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '!' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      [
        'message_delta',
        {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: 15 },
        },
      ],
      ['message_stop', { type: 'message_stop' }],
    ]);
  });
}
