import { Controller, Get, Headers, Param } from '@nestjs/common';
import { ModelNotFoundError } from '../common/errors/gateway.error.js';
import type { ModelObject } from '../common/openai.types.js';
import { Access } from '../http/route-config.js';
import { ModelRouter } from '../routing/model-router.js';

/** A model as Anthropic's Models API lists it. */
export interface AnthropicModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  /** RFC 3339. */
  created_at: string;
}

export interface AnthropicModelList {
  data: readonly AnthropicModelInfo[];
  has_more: false;
  first_id: string | null;
  last_id: string | null;
}

type OpenAiModelList = { object: 'list'; data: readonly ModelObject[] };

function anthropicModel(model: ModelObject): AnthropicModelInfo {
  return {
    type: 'model',
    id: model.id,
    display_name: model.id,
    created_at: new Date(model.created * 1_000).toISOString(),
  };
}

/**
 * The configured public models: in Anthropic's list format when the request carries `anthropic-version` (Claude
 * Code's model discovery, the Anthropic SDK's `models.list`), in OpenAI's otherwise. Both are built at start-up.
 */
@Controller('v1/models')
export class ModelsController {
  private readonly list: OpenAiModelList;
  private readonly anthropicList: AnthropicModelList;
  private readonly byId: Map<string, { openai: ModelObject; anthropic: AnthropicModelInfo }>;

  constructor(router: ModelRouter) {
    const models = router.modelObjects;
    this.list = { object: 'list', data: models };
    const anthropic = models.map(anthropicModel);
    this.anthropicList = {
      data: anthropic,
      has_more: false,
      first_id: anthropic[0]?.id ?? null,
      last_id: anthropic.at(-1)?.id ?? null,
    };
    this.byId = new Map(models.map((model, i) => [model.id, { openai: model, anthropic: anthropic[i] }]));
  }

  @Get()
  @Access('key')
  findAll(@Headers('anthropic-version') anthropicVersion?: string): OpenAiModelList | AnthropicModelList {
    return anthropicVersion === undefined ? this.list : this.anthropicList;
  }

  /** Model ids may contain slashes (`org/model`), hence the wildcard. */
  @Get('*')
  @Access('key')
  findOne(
    @Param('*') id: string,
    @Headers('anthropic-version') anthropicVersion?: string,
  ): ModelObject | AnthropicModelInfo {
    const model = this.byId.get(id);
    if (!model) throw new ModelNotFoundError(id);
    return anthropicVersion === undefined ? model.openai : model.anthropic;
  }
}
